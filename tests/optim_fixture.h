// Shared pieces of the optim tests: a tiny f64 conv + BN + linear model, random
// batches, and an independent "reference" copy of the model whose gradients are
// computed by a plain autograd run (no arenas, no optimizer code) and returned
// as std::vector<double> for hand-written update rules.
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/batch_norm.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "optim/config.h"

namespace optim_test {

using basin::DType;
using basin::Tensor;
using Vec = std::vector<double>;

inline constexpr int64_t kBatch = 8, kClasses = 3, kChannels = 2, kSide = 4;

// conv 3x3 (2->3, pad 1) -> BN(3) -> ReLU -> flatten -> linear(48 -> 3), f64.
// BN affine parameters are randomised so every parameter is non-trivial.
inline std::shared_ptr<basin::nn::Sequential> make_tiny_model(uint64_t seed) {
  basin::Generator gen(seed);
  basin::NoGrad no_grad;  // layer constructors initialise their parameters in place
  basin::nn::Conv2dOptions conv_options;
  conv_options.padding = 1;
  auto model = std::make_shared<basin::nn::Sequential>();
  model->add(std::make_shared<basin::nn::Conv2d>(kChannels, 3, 3, conv_options, gen));
  auto bn = std::make_shared<basin::nn::BatchNorm2d>(3);
  model->add(bn);
  model->add(std::make_shared<basin::nn::ReLU>());
  model->add(std::make_shared<basin::nn::Flatten>());
  model->add(std::make_shared<basin::nn::Linear>(3 * kSide * kSide, kClasses, true, gen));
  model->to(DType::F64);
  {
    bn->weight.copy_(basin::add(basin::mul(basin::rand({3}, gen, DType::F64), 0.8), 0.6));
    bn->bias.copy_(basin::mul(basin::randn({3}, gen, DType::F64), 0.3));
    // conv bias is zero-initialised; make it non-zero
    auto* conv = dynamic_cast<basin::nn::Conv2d*>(&(*model)[0]);
    conv->bias.copy_(basin::mul(basin::randn({3}, gen, DType::F64), 0.2));
  }
  return model;
}

// The step tests' common configuration on the tiny model: lr 0.1, momentum 0.9,
// weight decay 1e-3, a constant schedule over 4 epochs of 3 steps, rho 0.1, r_flip 0.25.
inline basin::optim::OptimConfig tiny_config(const std::string& method) {
  basin::optim::OptimConfig c;
  c.method = method;
  c.lr = 0.1;
  c.momentum = 0.9;
  c.weight_decay = 1e-3;
  c.schedule = "constant";
  c.epochs = 4;
  c.steps_per_epoch = 3;
  c.warmup_epochs = 0;
  c.rho = 0.1;
  c.r_flip = 0.25;
  return c;
}

inline Tensor random_images(int64_t n, basin::Generator& gen) {
  return basin::randn({n, kChannels, kSide, kSide}, gen, DType::F64);
}

inline Tensor random_labels(int64_t n, basin::Generator& gen) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = gen.randint(kClasses);
  return basin::from_vector<int64_t>(v, {n});
}

inline Vec to_vec(const Tensor& t) {
  return t.contiguous().to(DType::F64).to_vector<double>();
}

inline Vec flat_values(basin::nn::Module& model) {
  Vec out;
  for (auto& [name, slot] : model.named_parameters()) {
    Vec v = to_vec(*slot);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

inline void set_flat_values(basin::nn::Module& model, const Vec& w) {
  basin::NoGrad no_grad;
  size_t pos = 0;
  for (auto& [name, slot] : model.named_parameters()) {
    const int64_t n = slot->numel();
    Vec part(w.begin() + pos, w.begin() + pos + n);
    slot->copy_(basin::from_vector<double>(part, slot->shape()));
    pos += static_cast<size_t>(n);
  }
}

// Reference gradient at parameters w of mean CE over the rows `rows` of the batch
// (all rows when empty) against `labels` (one per row of the batch).
inline Vec reference_grad(basin::nn::Module& ref, const Vec& w, const Tensor& x,
                          const std::vector<int64_t>& labels, const std::vector<int64_t>& rows,
                          double smoothing, Vec* logits_out = nullptr) {
  set_flat_values(ref, w);
  for (auto& [name, slot] : ref.named_parameters()) slot->set_grad(Tensor());
  basin::nn::FreezeBatchNormStats freeze;
  Tensor logits = ref.forward(x);
  if (logits_out) *logits_out = to_vec(logits);
  std::vector<int64_t> use = rows;
  if (use.empty())
    for (int64_t i = 0; i < logits.size(0); ++i) use.push_back(i);
  std::vector<int64_t> lab;
  for (int64_t r : use) lab.push_back(labels[static_cast<size_t>(r)]);
  const int64_t k = static_cast<int64_t>(use.size());
  Tensor sub = basin::index_select(logits, basin::from_vector<int64_t>(use, {k}));
  Tensor loss = basin::cross_entropy(sub, basin::from_vector<int64_t>(lab, {k}), smoothing);
  loss.backward();
  Vec g;
  for (auto& [name, slot] : ref.named_parameters()) {
    Vec v = slot->grad().defined() ? to_vec(slot->grad()) : Vec(slot->numel(), 0.0);
    g.insert(g.end(), v.begin(), v.end());
  }
  return g;
}

inline double norm(const Vec& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

inline double max_abs_diff(const Vec& a, const Vec& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace optim_test

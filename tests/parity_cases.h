// The one table of op cases that every non-CPU backend is compared against the
// CPU backend with. A case builds its inputs deterministically on the CPU (so a
// broken device fill cannot hide), moves them to the device under test, runs
// ops through the front-end (backward passes included) and returns the tensors
// to compare. Adding an op = adding one entry to parity_cases().
#pragma once
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/models.h"
#include "optim/factory.h"

namespace basin::parity {

constexpr double kElementwiseTol = 1e-5;  // relative L2, elementwise ops and reductions
constexpr double kGemmTol = 1e-4;         // relative L2, GEMM- and convolution-shaped work

struct ParityCase {
  const char* name;
  double tol;
  std::function<std::vector<Tensor>(Device)> run;
};

// Uniform in [lo, hi) from a fixed Philox seed, built on the CPU, then moved.
inline Tensor input(const Shape& shape, uint64_t seed, Device device, double lo = -1.0, double hi = 1.0) {
  Generator gen(seed);
  Tensor t = rand(shape, gen, DType::F32, Device::cpu());
  t = add(mul(t, hi - lo), lo);
  return t.to(device).detach();
}

// Standard normal values from a fixed seed, built on the CPU, then moved.
inline Tensor normal_input(const Shape& shape, uint64_t seed, Device device) {
  Generator gen(seed);
  return randn(shape, gen, DType::F32, Device::cpu()).to(device).detach();
}

inline Tensor leaf(Tensor t) {
  t.requires_grad_(true);
  return t;
}

// backward() of sum(out * w) for a fixed random w, so every output element
// gets a distinct upstream gradient.
inline void backward_weighted(const Tensor& out, uint64_t seed) {
  const Tensor w = input(out.shape(), seed, out.device());
  sum(mul(out, w)).backward();
}

inline Tensor labels(const std::vector<int64_t>& values, Device device) {
  return from_vector<int64_t>(values, {static_cast<int64_t>(values.size())}).to(device);
}

// One optimizer step of a small ResNet-18 (width 0.25, seed 5) on a fixed batch
// of 8 CIFAR-shaped images: the whole engine (convolutions, BatchNorm, residual
// adds, pooling, loss, arena, optimizer kernels) in one case. Returns the loss
// at w and the parameter arena after the step.
inline std::vector<Tensor> resnet18_one_step(Device d, const std::string& method) {
  auto model = nn::make_model("resnet18", 10, 3, 0.25, uint64_t{5});
  model->to(d);
  model->train();
  const Tensor x = input({8, 3, 32, 32}, 200, d);
  const Tensor y = labels({3, 7, 0, 9, 1, 1, 4, 6}, d);
  optim::FlatParams flat = optim::bind(*model, d);
  optim::OptimConfig config;
  config.method = method;
  config.lr = 0.05;
  config.momentum = 0.9;
  config.weight_decay = 5e-4;
  config.schedule = "constant";
  config.epochs = 1;
  config.steps_per_epoch = 1;
  auto opt = optim::make_optimizer(config, flat);
  optim::StepInput in;
  in.labels = y;
  in.observe = false;
  const optim::StepResult r = opt->step([&](optim::Pass) { return model->forward(x); }, in);
  return std::vector<Tensor>{from_vector<double>({r.loss}, {1}), flat.params().clone()};
}

// --- the table ---
inline std::vector<ParityCase> parity_cases() {
  std::vector<ParityCase> cases;
  const double E = kElementwiseTol, G = kGemmTol;

  cases.push_back({"binary add/sub/mul/div with broadcasting + backward", E, [](Device d) {
    Tensor a = leaf(input({4, 5}, 1, d)), b = leaf(input({5}, 2, d, 0.5, 1.5));
    Tensor c = leaf(input({4, 1}, 3, d, 0.5, 1.5));
    Tensor out = div(sub(mul(add(a, b), c), a), b) + div(a, c);
    backward_weighted(out, 4);
    return std::vector<Tensor>{out, a.grad(), b.grad(), c.grad()};
  }});
  cases.push_back({"in-place add_/mul_/copy_/fill_ and scalar ops", E, [](Device d) {
    Tensor a = input({6, 7}, 5, d), b = input({6, 7}, 6, d);
    Tensor c = a.clone();
    c.add_(b, -0.75).mul_(1.5);
    Tensor e = add(mul(a, 2.5), -0.25);
    Tensor f = zeros({3, 4}, DType::F32, d);
    f.fill_(0.375);
    Tensor g = empty({6, 7}, DType::F32, d);
    g.copy_(b);
    return std::vector<Tensor>{c, e, f, g};
  }});
  cases.push_back({"unary neg/exp/log/sqrt/square/relu + backward", E, [](Device d) {
    Tensor a = leaf(input({3, 33}, 7, d));
    Tensor p = leaf(input({3, 33}, 8, d, 0.2, 3.0));
    Tensor out = neg(exp(a)) + relu(a) + square(a) + log(p) + sqrt(p);
    backward_weighted(out, 9);
    return std::vector<Tensor>{out, a.grad(), p.grad()};
  }});
  cases.push_back({"compare ops (tensor and scalar)", 0.0, [](Device d) {
    Tensor a = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).to(d);
    Tensor b = from_vector<float>({3, 2, 1, 4, 0, 7}, {2, 3}).to(d);
    return std::vector<Tensor>{compare(BinaryOp::Ge, a, b), compare(BinaryOp::Gt, a, b),
                               compare(BinaryOp::Lt, a, b), compare(BinaryOp::Eq, a, b),
                               compare(BinaryOp::Gt, a, 3.0), compare(BinaryOp::Eq, a, 4.0)};
  }});
  cases.push_back({"sum/mean over all and over dims (keepdim) + backward", E, [](Device d) {
    Tensor a = leaf(input({3, 4, 5, 6}, 10, d));
    Tensor s_all = sum(a), m_all = mean(a);
    Tensor s1 = sum(a, {1}, true), m23 = mean(a, {2, 3}), s0 = sum(a, {0});
    Tensor total = add(add(mul(s_all, 0.5), m_all), add(sum(mul(s1, s1)), add(sum(m23), sum(s0))));
    total.backward();
    return std::vector<Tensor>{s_all, m_all, s1, m23, s0, a.grad()};
  }});
  cases.push_back({"long reductions (two-stage paths)", E, [](Device d) {
    Tensor a = input({70000}, 11, d), b = input({70000}, 12, d);
    Tensor rows = input({3, 20000}, 13, d);
    return std::vector<Tensor>{sum(a), sum(rows, {1}), max(rows, 1),
                               from_vector<double>({dot_value(a, b)}, {1})};
  }});
  cases.push_back({"max over a dim, argmax, topk with ties", 0.0, [](Device d) {
    Tensor a = input({5, 9}, 14, d);
    Tensor t = from_vector<float>({1, 3, 3, 2, 5, 5, 0, 5, 4, 4, 1, 4}, {2, 6}).to(d);
    TopK k1 = topk(a, 3), k2 = topk(t, 4);
    return std::vector<Tensor>{max(a, 1), max(a, 0, true), argmax(a, 1), argmax(t, 1), k1.values,
                               k1.indices, k2.values, k2.indices};
  }});
  cases.push_back({"dot_value", E, [](Device d) {
    Tensor a = input({1000}, 15, d), b = input({1000}, 16, d);
    return std::vector<Tensor>{from_vector<double>({dot_value(a, b)}, {1})};
  }});
  cases.push_back({"matmul 2-D, batched, broadcast B + backward", G, [](Device d) {
    Tensor a = leaf(input({7, 5}, 17, d)), b = leaf(input({5, 9}, 18, d));
    Tensor ba = leaf(input({3, 4, 6}, 19, d)), bb = leaf(input({3, 6, 2}, 20, d));
    Tensor bw = leaf(input({6, 5}, 21, d));
    Tensor y1 = matmul(a, b), y2 = matmul(ba, bb), y3 = matmul(ba, bw);
    backward_weighted(y1, 22);
    backward_weighted(y2, 23);
    backward_weighted(y3, 24);
    return std::vector<Tensor>{y1, y2, y3, a.grad(), b.grad(), ba.grad(), bb.grad(), bw.grad()};
  }});
  cases.push_back({"linear + backward", G, [](Device d) {
    Tensor x = leaf(input({8, 12}, 25, d)), w = leaf(input({5, 12}, 26, d)), b = leaf(input({5}, 27, d));
    Tensor y = linear(x, w, b);
    backward_weighted(y, 28);
    return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad()};
  }});
  cases.push_back({"conv2d stride 2 pad 1 with bias + backward", G, [](Device d) {
    Tensor x = leaf(input({2, 3, 9, 8}, 29, d)), w = leaf(input({4, 3, 3, 3}, 30, d));
    Tensor b = leaf(input({4}, 31, d));
    Conv2dParams p;
    p.stride_h = p.stride_w = 2;
    p.pad_h = p.pad_w = 1;
    Tensor y = conv2d(x, w, b, p);
    backward_weighted(y, 32);
    return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad()};
  }});
  cases.push_back({"conv2d dilation 2, 1x3 kernel, no bias + backward", G, [](Device d) {
    Tensor x = leaf(input({3, 2, 7, 10}, 33, d)), w = leaf(input({5, 2, 1, 3}, 34, d));
    Conv2dParams p;
    p.dilation_h = p.dilation_w = 2;
    p.pad_w = 2;
    Tensor y = conv2d(x, w, Tensor(), p);
    backward_weighted(y, 35);
    return std::vector<Tensor>{y, x.grad(), w.grad()};
  }});
  cases.push_back({"max_pool2d (overlapping, padded) + backward", E, [](Device d) {
    Tensor x = leaf(input({2, 3, 7, 6}, 36, d));
    Pool2dParams p;
    p.kernel_h = p.kernel_w = 3;
    p.stride_h = p.stride_w = 2;
    p.pad_h = p.pad_w = 1;
    Tensor y = max_pool2d(x, p);
    backward_weighted(y, 37);
    return std::vector<Tensor>{y, x.grad()};
  }});
  cases.push_back({"avg_pool2d (include pad or not) and global average + backward", E, [](Device d) {
    Tensor x = leaf(input({2, 3, 7, 6}, 38, d));
    Pool2dParams p;
    p.kernel_h = p.kernel_w = 3;
    p.stride_h = p.stride_w = 2;
    p.pad_h = p.pad_w = 1;
    Pool2dParams q = p;
    q.count_include_pad = false;
    Tensor y1 = avg_pool2d(x, p), y2 = avg_pool2d(x, q), y3 = global_avg_pool2d(x);
    backward_weighted(y1, 39);
    backward_weighted(y2, 40);
    backward_weighted(y3, 41);
    return std::vector<Tensor>{y1, y2, y3, x.grad()};
  }});
  cases.push_back({"batch_norm training 4-D (running stats) + backward", E, [](Device d) {
    Tensor x = leaf(add(mul(normal_input({4, 3, 5, 5}, 42, d), 2.0), 0.5));
    Tensor g = leaf(input({3}, 43, d, 0.5, 1.5)), b = leaf(input({3}, 44, d));
    Tensor rm = input({3}, 45, d), rv = input({3}, 46, d, 0.5, 1.5);
    Tensor y = batch_norm(x, g, b, rm, rv, true, 0.1, 1e-5);
    backward_weighted(y, 47);
    return std::vector<Tensor>{y, rm, rv, x.grad(), g.grad(), b.grad()};
  }});
  cases.push_back({"batch_norm_relu training (fused, running stats) + backward", E, [](Device d) {
    Tensor x = leaf(add(mul(normal_input({4, 5, 7, 3}, 184, d), 2.0), 0.5));
    Tensor g = leaf(input({5}, 185, d, -1.0, 1.5)), b = leaf(input({5}, 186, d));
    Tensor rm = input({5}, 187, d), rv = input({5}, 188, d, 0.5, 1.5);
    Tensor y = batch_norm_relu(x, g, b, rm, rv, true, 0.1, 1e-5);
    backward_weighted(y, 189);
    return std::vector<Tensor>{y, rm, rv, x.grad(), g.grad(), b.grad()};
  }});
  cases.push_back({"batch_norm training, large planes (split reductions) + backward", E, [](Device d) {
    Tensor x = leaf(add(normal_input({9, 2, 64, 64}, 80, d), 3.0));  // 36864 per channel
    Tensor g = leaf(input({2}, 81, d, 0.5, 1.5)), b = leaf(input({2}, 82, d));
    Tensor rm = zeros({2}, DType::F32, d), rv = ones({2}, DType::F32, d);
    Tensor y = batch_norm(x, g, b, rm, rv, true, 0.1, 1e-5);
    backward_weighted(y, 83);
    return std::vector<Tensor>{y, rm, rv, x.grad(), g.grad(), b.grad()};
  }});
  cases.push_back({"batch_norm training 2-D without running update, eval mode", E, [](Device d) {
    Tensor x = leaf(normal_input({16, 6}, 48, d));
    Tensor g = leaf(input({6}, 49, d, 0.5, 1.5)), b = leaf(input({6}, 50, d));
    Tensor rm = input({6}, 51, d), rv = input({6}, 52, d, 0.5, 1.5);
    Tensor y = batch_norm(x, g, b, rm, rv, true, 0.1, 1e-5, false);
    backward_weighted(y, 53);
    Tensor ye = [&] { NoGrad ng; return batch_norm(x, g, b, rm, rv, false, 0.1, 1e-5); }();
    return std::vector<Tensor>{y, rm, rv, x.grad(), g.grad(), b.grad(), ye};
  }});
  cases.push_back({"softmax and log_softmax + backward", E, [](Device d) {
    Tensor x = leaf(mul(input({6, 11}, 54, d), 4.0));
    Tensor y1 = softmax(x), y2 = log_softmax(x);
    backward_weighted(add(y1, y2), 55);
    return std::vector<Tensor>{y1, y2, x.grad()};
  }});
  cases.push_back({"cross_entropy per-sample and mean, label smoothing + backward", E, [](Device d) {
    Tensor x = leaf(mul(input({5, 7}, 56, d), 3.0));
    Tensor z = leaf(mul(input({5, 7}, 57, d), 3.0));
    Tensor lab = labels({0, 6, 3, 3, 1}, d);
    Tensor per = cross_entropy_per_sample(x, lab, 0.1);
    Tensor mean_loss = cross_entropy(z, lab, 0.0);
    backward_weighted(per, 58);
    mean_loss.backward();
    return std::vector<Tensor>{per, mean_loss, x.grad(), z.grad()};
  }});
  cases.push_back({"index_select (f32 with backward: repeated indices) and i64/u8/i32 rows", E, [](Device d) {
    Tensor a = leaf(input({6, 4}, 59, d));
    Tensor idx = labels({5, 0, 5, 2, 5}, d);
    Tensor y = index_select(a, idx);
    backward_weighted(y, 60);
    Tensor ints = from_vector<int64_t>({10, 11, 12, 13, 14, 15}, {3, 2}).to(d);
    Tensor bytes = from_vector<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3}).to(d);
    Tensor i32s = from_vector<int32_t>({-4, 7, 9}, {3}).to(d);
    Tensor idx2 = labels({2, 2, 0}, d);
    return std::vector<Tensor>{y, a.grad(), index_select(ints, idx2), index_select(bytes, idx2),
                               index_select(i32s, idx2)};
  }});
  cases.push_back({"concat dim 0 and 1 + backward", E, [](Device d) {
    Tensor a = leaf(input({2, 3}, 61, d)), b = leaf(input({4, 3}, 62, d)), c = leaf(input({2, 5}, 63, d));
    Tensor y0 = concat({a, b}, 0), y1 = concat({a, c}, 1);
    backward_weighted(y0, 64);
    backward_weighted(y1, 65);
    return std::vector<Tensor>{y0, y1, a.grad(), b.grad(), c.grad()};
  }});
  cases.push_back({"views: transpose/narrow/expand made contiguous, dtype casts", E, [](Device d) {
    Tensor a = input({4, 5, 6}, 66, d);
    Tensor t = a.transpose(0, 2).contiguous();
    Tensor n = a.narrow(1, 1, 3).contiguous();
    Tensor e = input({1, 5}, 67, d).expand({3, 5}).contiguous();
    Tensor scaled = mul(a, 7.0);
    Tensor as_i64 = scaled.to(DType::I64), as_i32 = scaled.to(DType::I32), as_f64 = a.to(DType::F64);
    Tensor bytes = from_vector<uint8_t>({0, 17, 255, 128}, {4}).to(d).to(DType::F32);
    Tensor as_u8 = scaled.to(DType::U8);  // negative values wrap through int64
    return std::vector<Tensor>{t, n, e, as_i64, as_i32, as_f64, bytes, as_i64.to(DType::F32), as_u8};
  }});
  cases.push_back({"random fills rand/randn on the device stream", E, [](Device d) {
    Generator g1(1234);
    Tensor u = rand({1000}, g1, DType::F32, d);
    Tensor n = randn({1001}, g1, DType::F32, d);  // continues the same stream
    Generator g2(99);
    g2.set_state(99, 1ull << 33);  // a counter beyond 32 bits
    Tensor n2 = randn({257}, g2, DType::F32, d);
    return std::vector<Tensor>{u, n, n2};
  }});
  cases.push_back({"dropout mask from the device stream + backward", E, [](Device d) {
    Tensor x = leaf(input({8, 50}, 68, d));
    Generator gen(77);
    Tensor y = dropout(x, 0.3, true, gen);
    backward_weighted(y, 69);
    return std::vector<Tensor>{y, x.grad()};
  }});
  cases.push_back({"augment: reflect and zero pad, flips, normalise", E, [](Device d) {
    std::vector<uint8_t> pixels(5 * 3 * 6 * 7);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
    Tensor src = from_vector<uint8_t>(pixels, {5, 3, 6, 7}).to(d);
    std::vector<Tensor> outs;
    for (int variant = 0; variant < 3; ++variant) {
      AugmentSpec spec;
      spec.pad = variant == 2 ? 0 : 2;
      spec.reflect_pad = variant == 0;
      spec.flip_prob = variant == 1 ? 1.0f : 0.5f;
      for (int c = 0; c < 3; ++c) {
        spec.mean[c] = 0.4f + 0.05f * c;
        spec.std[c] = 0.25f + 0.01f * c;
      }
      Tensor out = empty({5, 3, 6, 7}, DType::F32, d);
      backend_for(d).augment(src, spec, 4242 + variant, 10 * variant, out);
      outs.push_back(out);
    }
    return outs;
  }});
  cases.push_back({"backend direct: unary/binary ops the front-end does not reach, integer dtypes", E,
                   [](Device d) {
    Backend& be = backend_for(d);
    Tensor a = input({5, 6}, 78, d), b = input({6}, 79, d);
    std::vector<Tensor> outs;
    for (UnaryOp op : {UnaryOp::Abs, UnaryOp::Sign, UnaryOp::Reciprocal}) {
      Tensor out = empty({5, 6}, DType::F32, d);
      be.unary(op, a, out);
      outs.push_back(out);
    }
    for (BinaryOp op : {BinaryOp::Max, BinaryOp::Min, BinaryOp::ReluGrad}) {
      Tensor out = empty({5, 6}, DType::F32, d);
      be.binary(op, a, b.expand({5, 6}), out);  // stride-0 broadcast
      outs.push_back(out);
      Tensor out_s = empty({5, 6}, DType::F32, d);
      be.binary_scalar(op, a, 0.25, out_s);
      outs.push_back(out_s);
    }
    // Integer tensors: accuracy-style comparisons stay on the device.
    Tensor pred = from_vector<int64_t>({1, 2, 3, 4, 5, 6}, {6}).to(d);
    Tensor truth = from_vector<int64_t>({1, 0, 3, 0, 5, 0}, {6}).to(d);
    Tensor eq = empty({6}, DType::I64, d);
    be.binary(BinaryOp::Eq, pred, truth, eq);
    Tensor i32a = from_vector<int32_t>({3, -2, 7, 1}, {4}).to(d);
    Tensor i32b = from_vector<int32_t>({1, 5, -7, 2}, {4}).to(d);
    Tensor i32_sum = empty({4}, DType::I32, d);
    be.binary(BinaryOp::Add, i32a, i32b, i32_sum);
    outs.push_back(eq);
    outs.push_back(i32_sum);
    // Fills of every dtype through strided views, and a strided i64 copy.
    Tensor f64 = zeros({4, 6}, DType::F64, d);
    Tensor f64_cols = f64.narrow(1, 1, 3);
    be.fill(f64_cols, -1.5);
    Tensor u8 = zeros({3, 4}, DType::U8, d);
    Tensor u8_t = u8.t();
    be.fill(u8_t, 200.0);
    Tensor i64 = arange(12, DType::I64, Device::cpu()).to(d).view({3, 4});
    outs.push_back(f64);
    outs.push_back(u8);
    outs.push_back(i64.t().contiguous());
    return outs;
  }});
  cases.push_back({"small conv net forward + backward", G, [](Device d) {
    Tensor x = normal_input({4, 3, 8, 8}, 70, d);
    Tensor lab = labels({1, 0, 3, 2}, d);
    Tensor w1 = leaf(mul(normal_input({6, 3, 3, 3}, 71, d), 0.3)), b1 = leaf(input({6}, 72, d));
    Tensor g1 = leaf(input({6}, 73, d, 0.5, 1.5)), be1 = leaf(input({6}, 74, d));
    Tensor rm = zeros({6}, DType::F32, d), rv = ones({6}, DType::F32, d);
    Tensor w2 = leaf(mul(normal_input({8, 6, 3, 3}, 75, d), 0.2));
    Tensor fw = leaf(mul(normal_input({4, 8}, 76, d), 0.3)), fb = leaf(input({4}, 77, d));
    Conv2dParams same;
    same.pad_h = same.pad_w = 1;
    Pool2dParams pool;
    Tensor h = relu(batch_norm(conv2d(x, w1, b1, same), g1, be1, rm, rv, true, 0.1, 1e-5));
    h = max_pool2d(h, pool);
    h = relu(conv2d(h, w2, Tensor(), same));
    Tensor logits = linear(global_avg_pool2d(h), fw, fb);
    Tensor loss = cross_entropy(logits, lab, 0.1);
    loss.backward();
    return std::vector<Tensor>{logits, loss, rm, rv, w1.grad(), b1.grad(), g1.grad(), be1.grad(),
                               w2.grad(), fw.grad(), fb.grad()};
  }});
  // Optimizer arena: both backends round after every multiply and add in the
  // same order (the CUDA kernels use explicit _rn intrinsics, never FMA), so the
  // results must agree bit for bit.
  cases.push_back({"optimizer arena sgd_step: momentum, nesterov, weight decay, mask, e", 0.0,
                   [](Device d) {
    const int64_t n = 70001;  // several blocks' worth of grid-stride work, ragged tail
    const Tensor g = input({n}, 84, d), e = input({n}, 85, d, -0.2, 0.2);
    const Tensor mask = compare(BinaryOp::Gt, input({n}, 86, Device::cpu()), 0.0).to(d);
    std::vector<Tensor> outs;
    for (double momentum : {0.0, 0.9})
      for (double weight_decay : {0.0, 0.1})
        for (bool nesterov : {false, true})
          for (bool with_mask : {false, true})
            for (bool with_e : {false, true}) {
              Tensor w = input({n}, 87, d), m = input({n}, 88, d);
              SgdStepParams p;
              p.lr = 0.05;
              p.momentum = momentum;
              p.weight_decay = weight_decay;
              p.nesterov = nesterov;
              backend_for(d).sgd_step(w, g, m, with_mask ? mask : Tensor(), with_e ? e : Tensor(), p);
              outs.push_back(w);
              outs.push_back(m);
            }
    return outs;
  }});
  // The named ascent kernels, fed the same squared norms on both devices (the
  // dot kernels themselves may differ in the last bits), so SAM, ASAM and
  // CA-SAM agree bit for bit; NCSAM's own |e| reduction may not.
  cases.push_back({"optimizer arena sam/asam/casam_perturb, skip flag", 0.0, [](Device d) {
    const int64_t n = 70001;
    const Tensor g = input({n}, 89, d), s = input({n}, 90, d, 0.5, 2.0), h = input({n}, 91, d);
    const Tensor g_dot = full({}, 123.25, DType::F32, d), h_dot = full({}, 77.5, DType::F32, d);
    AscentParams p;
    p.rho = 0.05;
    std::vector<Tensor> outs;
    for (int method = 0; method < 5; ++method) {
      Tensor w = input({n}, 92, d), e = input({n}, 93, d);
      const Tensor zero = zeros({}, DType::F32, d), poisoned = full({}, std::nan(""), DType::F32, d);
      if (method == 0) backend_for(d).sam_perturb(w, e, g, g_dot, zero, p);
      if (method == 1) backend_for(d).asam_perturb(w, e, g, s, g_dot, Tensor(), p);
      if (method == 2) backend_for(d).casam_perturb(w, e, h, h_dot, g, g_dot, full({}, 4.0, DType::F32, d), zero, p);
      if (method == 3) backend_for(d).casam_perturb(w, e, h, h_dot, g, g_dot, zero, zero, p);
      if (method == 4) backend_for(d).sam_perturb(w, e, g, g_dot, poisoned, p);
      outs.push_back(w);
      if (method != 4) outs.push_back(e);  // a skipped step's e is all zero by design
    }
    return outs;
  }});
  cases.push_back({"optimizer arena ncsam_perturb: raw/normalized, projection", 1e-6, [](Device d) {
    const int64_t n = 70001;
    const Tensor g = input({n}, 94, d), h = input({n}, 95, d);
    const Tensor g_dot = full({}, 23000.5, DType::F32, d), h_dot = full({}, 23100.25, DType::F32, d);
    std::vector<Tensor> outs;
    for (bool normalized : {false, true})
      for (bool project : {false, true}) {
        NcsamPerturbParams p;
        p.rho = 0.05;
        p.s_t = 0.4;
        p.sign = -1;
        p.normalized = normalized;
        p.project = project;
        Tensor w = input({n}, 96, d), e = input({n}, 97, d), e_dot = zeros({}, DType::F32, d);
        backend_for(d).ncsam_perturb(w, e, g, h, g_dot, h_dot, e_dot, Tensor(), p);
        outs.push_back(w);
        outs.push_back(e);
        outs.push_back(e_dot.reshape({1}));
      }
    return outs;
  }});
  // A captured step's per-step values read from device memory (lr, s(t), the
  // Philox offset): the same arithmetic as the launch arguments, bit for bit.
  cases.push_back({"per-step device values: sgd_step lr, ncsam_perturb s(t), fill_uniform_at", 0.0, [](Device d) {
    const int64_t n = 70001;
    const Tensor g = input({n}, 98, d), h = input({n}, 99, d);
    Tensor w = input({n}, 100, d), m = input({n}, 101, d);
    SgdStepParams sp;
    sp.momentum = 0.9;
    sp.lr_value = from_vector<double>({0.0375}, {1}).to(d);
    backend_for(d).sgd_step(w, g, m, Tensor(), Tensor(), sp);
    Tensor w2 = input({n}, 102, d), e2 = input({n}, 103, d), e_dot = zeros({}, DType::F32, d);
    NcsamPerturbParams np;
    np.rho = 0.05;
    np.sign = 1;
    np.project = false;
    np.s_t_value = from_vector<double>({0.0625}, {1}).to(d);
    backend_for(d).ncsam_perturb(w2, e2, g, h, full({}, 23000.5, DType::F32, d), full({}, 2.5, DType::F32, d),
                                 e_dot, Tensor(), np);
    Tensor u = empty({1001}, DType::F32, d);
    backend_for(d).fill_uniform_at(u, 42, from_vector<int64_t>({123456789}, {1}).to(d), 0.0, 1.0);
    return std::vector<Tensor>{w, m, w2, e2, u};
  }});
  cases.push_back({"resnet18 one SGD step", G, [](Device d) { return resnet18_one_step(d, "sgd"); }});
  cases.push_back({"resnet18 one SAM step", G, [](Device d) { return resnet18_one_step(d, "sam"); }});
  return cases;
}

}  // namespace basin::parity

// FlatParams: packing, views, gradient routing, segment table and masks.
#include <doctest/doctest.h>

#include "core/error.h"
#include "optim/flat_params.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using namespace optim_test;

TEST_CASE("optim: bind packs parameters in order and rebinds slots to arena views") {
  auto model = make_tiny_model(3);
  const Vec before = flat_values(*model);
  FlatParams flat = bind(*model, Device::cpu());
  REQUIRE(flat.numel() == static_cast<int64_t>(before.size()));
  CHECK(flat.dtype() == DType::F64);
  CHECK(to_vec(flat.params()) == before);
  int64_t offset = 0;
  size_t i = 0;
  for (auto& [name, slot] : model->named_parameters()) {
    const Segment& seg = flat.segments()[i++];
    CHECK(seg.name == name);
    CHECK(seg.offset == offset);
    CHECK(seg.numel == slot->numel());
    CHECK(seg.shape == slot->shape());
    CHECK(slot->shares_storage(flat.params()));
    CHECK(slot->requires_grad());
    CHECK(slot->is_leaf());
    offset += seg.numel;
  }
  // Writing the arena changes what the model computes with.
  {
    NoGrad no_grad;
    Tensor arena = flat.params();
    arena.mul_(2.0);
  }
  Vec doubled = before;
  for (double& v : doubled) v *= 2;
  CHECK(max_abs_diff(flat_values(*model), doubled) == 0.0);
}

TEST_CASE("optim: backward accumulates into the grad arena; route_grads redirects it") {
  Generator gen(8);
  const Tensor x = random_images(kBatch, gen);
  const Tensor y = random_labels(kBatch, gen);
  std::vector<int64_t> labels = y.to_vector<int64_t>();
  auto model = make_tiny_model(3);
  auto ref = make_tiny_model(3);
  const Vec w = flat_values(*ref);
  const Vec expect = reference_grad(*ref, w, x, labels, {}, 0.0);

  FlatParams flat = bind(*model, Device::cpu());
  flat.zero_grad();
  {
    nn::FreezeBatchNormStats freeze;
    cross_entropy(model->forward(x), y).backward();
  }
  CHECK(max_abs_diff(to_vec(flat.grads()), expect) < 1e-12);
  for (auto& [name, slot] : model->named_parameters()) CHECK(slot->grad().shares_storage(flat.grads()));

  // a second backward accumulates in place
  {
    nn::FreezeBatchNormStats freeze;
    cross_entropy(model->forward(x), y).backward();
  }
  Vec twice = expect;
  for (double& v : twice) v *= 2;
  CHECK(max_abs_diff(to_vec(flat.grads()), twice) < 1e-12);

  Tensor other = flat.new_state_buffer();
  CHECK(to_vec(other) == Vec(expect.size(), 0.0));
  flat.route_grads(other);
  {
    nn::FreezeBatchNormStats freeze;
    cross_entropy(model->forward(x), y).backward();
  }
  CHECK(max_abs_diff(to_vec(other), expect) < 1e-12);
  CHECK(max_abs_diff(to_vec(flat.grads()), twice) < 1e-12);  // untouched
  flat.zero_grad();  // routes back and zeroes
  CHECK(to_vec(flat.grads()) == Vec(expect.size(), 0.0));
  for (auto& [name, slot] : model->named_parameters()) CHECK(slot->grad().shares_storage(flat.grads()));
}

TEST_CASE("optim: segment flags, decay and ASAM masks, segment norms") {
  auto model = make_tiny_model(4);
  FlatParams plain = bind(*model, Device::cpu());
  CHECK_FALSE(plain.has_no_decay_segments());
  CHECK(to_vec(plain.decay_mask()) == Vec(plain.numel(), 1.0));

  auto model2 = make_tiny_model(4);
  BindOptions options;
  options.no_decay_bn_bias = true;
  FlatParams flat = bind(*model2, Device::cpu(), options);
  CHECK(flat.has_no_decay_segments());
  const Vec decay = to_vec(flat.decay_mask());
  const Vec weight = to_vec(flat.asam_weight_mask());
  // names: 0.weight 0.bias 1.weight 1.bias 4.weight 4.bias
  const std::vector<std::string> names = {"0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"};
  const std::vector<std::string> types = {"Conv2d", "Conv2d", "BatchNorm2d", "BatchNorm2d", "Linear", "Linear"};
  const std::vector<bool> decays = {true, false, false, false, true, false};
  const std::vector<bool> weights = {true, false, true, false, true, false};
  REQUIRE(flat.segments().size() == names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const Segment& s = flat.segments()[i];
    CAPTURE(s.name);
    CHECK(s.name == names[i]);
    CHECK(s.module_type == types[i]);
    CHECK(s.decay == decays[i]);
    CHECK(s.asam_weight == weights[i]);
    for (int64_t k = s.offset; k < s.offset + s.numel; ++k) {
      CHECK(decay[k] == (decays[i] ? 1.0 : 0.0));
      CHECK(weight[k] == (weights[i] ? 1.0 : 0.0));
    }
  }
  // per-segment norms of an arbitrary buffer against hand sums
  Generator gen(2);
  const Tensor buffer = randn({flat.numel()}, gen, DType::F64);
  const Vec v = to_vec(buffer);
  const std::vector<double> norms = flat.segment_norms(buffer);
  for (size_t i = 0; i < flat.segments().size(); ++i) {
    const Segment& s = flat.segments()[i];
    double sq = 0;
    for (int64_t k = s.offset; k < s.offset + s.numel; ++k) sq += v[k] * v[k];
    CHECK(norms[i] == doctest::Approx(std::sqrt(sq)).epsilon(1e-14));
    CHECK(to_vec(flat.segment_view(buffer, i)) == Vec(v.begin() + s.offset, v.begin() + s.offset + s.numel));
  }
  CHECK_THROWS_AS(flat.segment_norms(zeros({3}, DType::F64)), Error);
}

TEST_CASE("optim: moving a bound model is detected; mixed dtypes are refused") {
  auto model = make_tiny_model(5);
  FlatParams flat = bind(*model, Device::cpu());
  CHECK_NOTHROW(flat.check_bound());
  model->to(DType::F32);
  CHECK_THROWS_WITH_AS(flat.check_bound(), doctest::Contains("no longer views"), Error);

  auto mixed = make_tiny_model(5);
  {
    auto params = mixed->named_parameters();
    *params[1].second = params[1].second->detach().to(DType::F32);
  }
  CHECK_THROWS_WITH_AS(bind(*mixed, Device::cpu()), doctest::Contains("share one dtype"), Error);
}

TEST_CASE("optim: load_params copies a flat tensor into the arena") {
  auto model = make_tiny_model(6);
  FlatParams flat = bind(*model, Device::cpu());
  Generator gen(1);
  const Tensor values = randn({flat.numel()}, gen, DType::F64);
  flat.load_params(values);
  CHECK(flat_values(*model) == to_vec(values));
  CHECK_THROWS_AS(flat.load_params(zeros({2}, DType::F64)), Error);
}

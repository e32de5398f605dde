// Bad input to the core raises basin::Error whose message names what was
// wrong (both operands' shapes, the dtypes, the offending index), and devices
// without a backend are refused rather than crashing.
#include <doctest/doctest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core_reference.h"

using namespace basin;
using namespace basin::testing;

namespace {

// The message must mention every part; reports the message when it does not.
void check_mentions(const std::string& message, const std::vector<std::string>& parts) {
  for (const std::string& part : parts)
    CHECK_MESSAGE(contains(message, part), "message '", message, "' does not mention '", part, "'");
}

}  // namespace

TEST_CASE("core: shape mismatches name both shapes") {
  const Tensor a = random_tensor({2, 3}, 700u, DType::F32), b = random_tensor({4}, 701u, DType::F32);
  check_mentions(error_message([&] { add(a, b); }), {"[2, 3]", "[4]"});
  check_mentions(error_message([&] { mul(a, b); }), {"[2, 3]", "[4]"});
  check_mentions(error_message([&] { broadcast_shape({2, 3}, {4}); }), {"[2, 3]", "[4]"});

  const Tensor m = random_tensor({4, 5}, 702u, DType::F32);
  check_mentions(error_message([&] { matmul(a, m); }), {"[2, 3]", "[4, 5]"});
  const Tensor batched = random_tensor({2, 3, 4}, 703u, DType::F32);
  check_mentions(error_message([&] { matmul(batched, random_tensor({3, 3, 2}, 704u, DType::F32)); }),
                 {"[2, 3, 4]", "[3, 3, 2]"});
  check_mentions(error_message([&] { linear(a, m, Tensor()); }), {"[2, 3]", "[4, 5]"});

  const Tensor x = random_tensor({1, 3, 5, 5}, 705u, DType::F32);
  const Tensor w = random_tensor({4, 2, 3, 3}, 706u, DType::F32);
  check_mentions(error_message([&] { conv2d(x, w, Tensor(), Conv2dParams{}); }),
                 {"[1, 3, 5, 5]", "[4, 2, 3, 3]"});

  check_mentions(error_message([&] { concat({a, random_tensor({2, 4}, 707u, DType::F32)}, 0); }),
                 {"[2, 3]", "[2, 4]"});
  Tensor destination = a;
  check_mentions(error_message([&] { destination.copy_(random_tensor({3, 2}, 708u, DType::F32)); }),
                 {"[2, 3]", "[3, 2]"});
  CHECK_THROWS_AS(a.view({4, 2}), Error);
  CHECK_THROWS_AS(a.expand({4, 3}), Error);
  CHECK_THROWS_AS(from_vector<float>({1.f, 2.f, 3.f}, {2, 2}), Error);

  Tensor rm = zeros({3}), rv = ones({3});
  const Tensor x2 = random_tensor({4, 3}, 709u, DType::F32);
  CHECK_THROWS_AS(batch_norm(x2, ones({2}), zeros({2}), rm, rv, true, 0.1, 1e-5), Error);
}

TEST_CASE("core: dtype mismatches and integer tensors in floating ops") {
  const Tensor f = random_tensor({2, 3}, 710u, DType::F32), d = random_tensor({2, 3}, 711u, DType::F64);
  check_mentions(error_message([&] { add(f, d); }), {"f32", "f64"});
  check_mentions(error_message([&] { matmul(f, d.t()); }), {"f32", "f64"});
  const Tensor i = from_vector<int64_t>({1, 2, 3}, {3});
  check_mentions(error_message([&] { exp(i); }), {"i64"});
  check_mentions(error_message([&] { softmax(from_vector<int32_t>({1, 2}, {1, 2})); }), {"i32"});
  check_mentions(error_message([&] { f.data<double>(); }), {"f32", "f64"});
}

TEST_CASE("core: out-of-range labels and indices name the value") {
  const Tensor logits = random_tensor({2, 3}, 720u, DType::F32);
  check_mentions(error_message([&] { cross_entropy(logits, from_vector<int64_t>({0, 5}, {2})); }),
                 {"5"});
  CHECK_THROWS_AS(cross_entropy(logits, from_vector<int64_t>({-1, 0}, {2})), Error);
  CHECK_THROWS_AS(cross_entropy(logits, from_vector<int64_t>({0, 1, 2}, {3})), Error);
  const Tensor a = random_tensor({5, 3}, 721u, DType::F32);
  check_mentions(error_message([&] { index_select(a, from_vector<int64_t>({0, 7}, {2})); }), {"7"});
  CHECK_THROWS_AS(index_select(a, from_vector<int64_t>({-1}, {1})), Error);
  CHECK_THROWS_AS(index_select(a, from_vector<int32_t>({0, 1}, {2})), Error);  // indices must be i64
  CHECK_THROWS_AS(cross_entropy(logits, from_vector<int32_t>({0, 1}, {2})), Error);  // labels i64
  CHECK_THROWS_AS(cross_entropy(logits, from_vector<int64_t>({0, 1}, {2}), 1.5), Error);
  Generator gen(1);
  CHECK_THROWS_AS(dropout(a, 1.0, true, gen), Error);
  CHECK_THROWS_AS(concat({a, a}, 2), Error);
  CHECK_THROWS_AS(topk(a, 4), Error);
  CHECK_THROWS_AS(a.slice(3, 6), Error);
  CHECK_THROWS_AS(a.transpose(0, 2), Error);
  CHECK_THROWS_AS(sum(a, {2}), Error);
  CHECK_THROWS_AS(a.item(), Error);
}

TEST_CASE("core: view of a non-contiguous tensor names the problem") {
  const Tensor a = random_tensor({3, 4}, 730u, DType::F32);
  const std::string message = error_message([&] { a.t().view({12}); });
  CHECK_FALSE(message.empty());
  check_mentions(message, {"[4, 3]"});
}

TEST_CASE("core: backward on a non-scalar without an upstream gradient") {
  Tensor x = random_tensor({3}, 740u);
  x.requires_grad_();
  const Tensor y = mul(x, x);
  check_mentions(error_message([&] { y.backward(); }), {"[3]"});
  CHECK_THROWS_AS(y.backward(random_tensor({2}, 741u)), Error);  // upstream of the wrong shape
  // A gradient buffer of the wrong shape is refused up front, not written past its end.
  check_mentions(error_message([&] { x.set_grad(zeros({4}, DType::F64)); }), {"[3]", "[4]"});
  // Nothing to differentiate: an error, not a silent no-op.
  CHECK_THROWS_AS(sum(random_tensor({3}, 742u)).backward(), Error);
}

TEST_CASE("core: devices parse, and CUDA without a backend is refused") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda") == Device::cuda(0));
  const Device d1 = Device::parse("cuda:1");
  CHECK(d1.is_cuda());
  CHECK(d1.index == 1);
  CHECK(d1.str() == "cuda:1");
  CHECK(Device::cpu().str() == "cpu");
  check_mentions(error_message([] { Device::parse("gpu"); }), {"gpu"});
  CHECK_THROWS_AS(Device::parse("cuda:x"), Error);
  CHECK_THROWS_AS(Device::parse("cuda:-1"), Error);
  CHECK(has_backend(DeviceType::CPU));
  CHECK(std::string(backend_for(Device::cpu()).name()).size() > 0);

  // Far past any real device count: refused whether or not CUDA is built in.
  CHECK_THROWS_AS(backend_for(Device::cuda(1000)), Error);
  if (has_backend(DeviceType::CUDA)) {
    MESSAGE("a CUDA backend is registered: the no-backend refusal is not exercised");
  } else {
    check_mentions(error_message([] { backend_for(Device::cuda()); }), {"cuda"});
    CHECK_THROWS_AS(zeros({2, 2}, DType::F32, Device::cuda()), Error);
    CHECK_THROWS_AS(random_tensor({2}, 750u).to(Device::cuda()), Error);
  }
}

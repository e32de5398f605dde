// Training runs in f32, while finite differences need f64: these cases run the
// same backward pass in both dtypes on the same values and require the f32
// gradients to agree with the (finite-difference checked) f64 ones.
#include <doctest/doctest.h>

#include "core/ops.h"
#include "core_reference.h"

using namespace basin;
using namespace basin::testing;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Gradients of sum(f(inputs) * R) for a fixed random R, in the given dtype.
std::vector<std::vector<double>> gradients_in(DType dtype, const Fn& f,
                                              const std::vector<Tensor>& values) {
  std::vector<Tensor> inputs;
  for (const Tensor& v : values) {
    Tensor x = v.to(dtype).clone();  // fresh leaf: to() may return v itself
    x.requires_grad_();
    inputs.push_back(x);
  }
  const Tensor out = f(inputs);
  CHECK(out.dtype() == dtype);
  const Tensor weights = random_tensor(out.shape(), 4242u, dtype);
  sum(mul(out, weights)).backward();
  std::vector<std::vector<double>> grads;
  for (const Tensor& x : inputs) {
    REQUIRE(x.grad().defined());
    CHECK(x.grad().dtype() == dtype);
    grads.push_back(to_doubles(x.grad()));
  }
  return grads;
}

void check_f32_matches_f64(const char* what, const Fn& f, const std::vector<Tensor>& values,
                           double tol = 1e-4) {
  const auto g64 = gradients_in(DType::F64, f, values);
  const auto g32 = gradients_in(DType::F32, f, values);
  for (size_t k = 0; k < values.size(); ++k) check_close(g32[k], g64[k], tol, cat(what, " input ", k));
}

}  // namespace

TEST_CASE("core: f32 backward agrees with f64 backward") {
  check_f32_matches_f64("broadcast mul/div",
                        [](const std::vector<Tensor>& in) { return div(mul(in[0], in[1]), in[2]); },
                        {random_tensor({2, 3, 4}, 800u), random_tensor({3, 1}, 801u),
                         random_tensor({4}, 802u, DType::F64, 0.5, 2.0)});
  check_f32_matches_f64("exp/log/sqrt/relu",
                        [](const std::vector<Tensor>& in) {
                          return add(relu(exp(in[0])), log(sqrt(in[1])));
                        },
                        {random_tensor({5, 3}, 803u), random_tensor({5, 3}, 804u, DType::F64, 0.5, 2.0)});
  check_f32_matches_f64("mean over {0, 2}",
                        [](const std::vector<Tensor>& in) { return mean(in[0], {0, 2}, true); },
                        {random_tensor({3, 4, 5}, 805u)});
  check_f32_matches_f64("batched matmul", [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                        {random_tensor({3, 7, 9}, 806u), random_tensor({9, 5}, 807u)});
  check_f32_matches_f64("linear",
                        [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                        {random_tensor({8, 20}, 808u), random_tensor({6, 20}, 809u), random_tensor({6}, 810u)});
  Conv2dParams p;
  p.stride_h = p.stride_w = 2;
  p.pad_h = p.pad_w = 1;
  check_f32_matches_f64("conv2d",
                        [&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], p); },
                        {random_tensor({2, 4, 9, 8}, 811u), random_tensor({6, 4, 3, 3}, 812u),
                         random_tensor({6}, 813u)},
                        2e-4);
  Pool2dParams pool;
  pool.kernel_h = pool.kernel_w = 3;
  pool.pad_h = pool.pad_w = 1;
  check_f32_matches_f64("max_pool2d", [&](const std::vector<Tensor>& in) { return max_pool2d(in[0], pool); },
                        {random_tensor({2, 3, 7, 6}, 814u)});
  check_f32_matches_f64("avg_pool2d", [&](const std::vector<Tensor>& in) { return avg_pool2d(in[0], pool); },
                        {random_tensor({2, 3, 7, 6}, 815u)});
  check_f32_matches_f64("global_avg_pool2d",
                        [](const std::vector<Tensor>& in) { return global_avg_pool2d(in[0]); },
                        {random_tensor({2, 3, 4, 5}, 816u)});
  Tensor rm32 = zeros({4}), rv32 = ones({4}), rm64 = zeros({4}, DType::F64), rv64 = ones({4}, DType::F64);
  check_f32_matches_f64("batch_norm train",
                        [&](const std::vector<Tensor>& in) {
                          const bool f32 = in[0].dtype() == DType::F32;
                          return batch_norm(in[0], in[1], in[2], f32 ? rm32 : rm64, f32 ? rv32 : rv64,
                                            true, 0.1, 1e-5);
                        },
                        {random_tensor({4, 4, 3, 3}, 817u, DType::F64, -2.0, 3.0), random_tensor({4}, 818u),
                         random_tensor({4}, 819u)},
                        2e-4);
  const Tensor labels = from_vector<int64_t>({2, 9, 0, 4, 4, 7}, {6});
  check_f32_matches_f64("cross_entropy with smoothing",
                        [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], labels, 0.1); },
                        {random_tensor({6, 10}, 820u, DType::F64, -3.0, 3.0)});
  check_f32_matches_f64("log_softmax", [](const std::vector<Tensor>& in) { return log_softmax(in[0]); },
                        {random_tensor({6, 10}, 821u, DType::F64, -3.0, 3.0)});
  const Tensor idx = from_vector<int64_t>({1, 1, 3, 0, 1}, {5});
  check_f32_matches_f64("index_select + concat",
                        [&](const std::vector<Tensor>& in) {
                          return concat({index_select(in[0], idx), in[1]}, 0);
                        },
                        {random_tensor({4, 3}, 822u), random_tensor({2, 3}, 823u)});
}

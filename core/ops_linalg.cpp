// Matrix products: matmul (2-D and batched) and linear, on the backend's gemm.
#include "core/ops_internal.h"

namespace basin {

using detail::dense;

namespace {

// op(a) @ op(b) for contiguous 2-D or same-batch 3-D operands; no recording.
Tensor product(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  const Tensor A = dense(a), B = dense(b);
  const bool batched = A.dim() == 3;
  const int64_t batch = batched ? A.shape()[0] : 1;
  const int64_t ar = A.shape()[A.dim() - 2], ac = A.shape()[A.dim() - 1];
  const int64_t br = B.shape()[B.dim() - 2], bc = B.shape()[B.dim() - 1];
  const int64_t M = ta ? ac : ar, K = ta ? ar : ac, N = tb ? br : bc;
  BASIN_CHECK((tb ? bc : br) == K, "matmul: inner dimensions differ: ", a.str(), " and ", b.str());
  Tensor C = batched ? empty({batch, M, N}, A.dtype(), A.device()) : empty({M, N}, A.dtype(), A.device());
  backend_of(A).gemm(ta, tb, batch, M, N, K, 1.0, A, B, 0.0, C, /*b_broadcast=*/B.dim() == 2 && batched);
  return C;
}

void check_matmul_operands(const Tensor& a, const Tensor& b, const char* op) {
  check_floating(a, op);
  check_floating(b, op);
  check_same_device(a, b, op);
  check_same_dtype(a, b, op);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_matmul_operands(a, b, "matmul");
  const bool ok = (a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 2) ||
                  (a.dim() == 3 && b.dim() == 3 && a.shape()[0] == b.shape()[0]);
  BASIN_CHECK(ok, "matmul: unsupported operand shapes ", a.str(), " and ", b.str(),
              " (expected [M,K]x[K,N], [B,M,K]x[K,N] or [B,M,K]x[B,K,N])");
  BASIN_CHECK(a.shape().back() == b.shape()[b.dim() - 2], "matmul: inner dimensions differ: ",
              a.str(), " and ", b.str());
  Tensor out = product(a, false, b, false);
  if (!any_requires_grad({a, b})) return out;
  const Tensor ad = a.detach(), bd = b.detach();
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record("matmul", out, {a, b}, [=](const Tensor& g) {
    Tensor ga, gb;
    if (need_a) ga = product(g, false, bd, true);  // g @ b^T (b broadcast over batch works too)
    if (need_b) {
      if (ad.dim() == 3 && bd.dim() == 2) {       // b shared by every batch: sum over it
        const Tensor a2 = dense(ad).view({-1, ad.shape()[2]});
        gb = product(a2, true, dense(g).view({-1, g.shape()[2]}), false);
      } else {
        gb = product(ad, true, g, false);         // a^T @ g
      }
    }
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_matmul_operands(x, weight, "linear");
  BASIN_CHECK(x.dim() == 2 && weight.dim() == 2 && x.shape()[1] == weight.shape()[1],
              "linear: input ", x.str(), " does not match weight ", weight.str(),
              " (expected [N, in] and [out, in])");
  Tensor y = product(x, false, weight, true);
  if (bias.defined()) {
    check_matmul_operands(x, bias, "linear");
    BASIN_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], "linear: bias ",
                bias.str(), " does not match weight ", weight.str());
    backend_of(y).binary(BinaryOp::Add, y, bias.detach().expand(y.shape()), y);
  }
  if (!any_requires_grad({x, weight, bias})) return y;
  const Tensor xd = x.detach(), wd = weight.detach();
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  return record("linear", y, {x, weight, bias}, [=](const Tensor& g) {
    Tensor gx, gw, gb;
    if (need_x) gx = product(g, false, wd, false);  // [N,out] @ [out,in]
    if (need_w) gw = product(g, true, xd, false);   // [out,N] @ [N,in]
    if (need_b) gb = sum(g, {0});
    return std::vector<Tensor>{gx, gw, gb};
  });
}

}  // namespace basin

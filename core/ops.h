// The op front-end: every differentiable operation the engine offers. Each op
// checks shapes, dtypes and devices (throwing basin::Error that names both
// operands), allocates its output, calls the device's Backend, and records an
// autograd node when an input requires a gradient.
#pragma once
#include <vector>

#include "core/backend.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace basin {

// --- elementwise, numpy-style broadcasting ---
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor square(const Tensor& a);
Tensor relu(const Tensor& a);
// Not differentiable: 1 where a op b holds, else 0, in a's dtype.
Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor compare(BinaryOp op, const Tensor& a, double s);
// Shape two operands broadcast to; throws naming both.
Shape broadcast_shape(const Shape& a, const Shape& b);
// Sum `grad` down to `shape` (the inverse of broadcasting), used by backward passes.
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }

// --- reductions ---
Tensor sum(const Tensor& a);   // all elements -> one-element tensor of shape []
Tensor mean(const Tensor& a);
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor max(const Tensor& a, int64_t dim, bool keepdim = false);  // values only, not differentiable
Tensor argmax(const Tensor& a, int64_t dim = 1);   // 2-D a, i64 [rows]
struct TopK { Tensor values, indices; };
TopK topk(const Tensor& a, int64_t k);             // 2-D a, along dim 1, descending
double dot_value(const Tensor& a, const Tensor& b);  // host value of sum(a*b), not recorded
Tensor dot(const Tensor& a, const Tensor& b);  // 0-d sum(a*b) on a's device (no host read), not recorded

// --- linear algebra ---
Tensor matmul(const Tensor& a, const Tensor& b);   // [M,K]x[K,N], [B,M,K]x[B,K,N], [B,M,K]x[K,N]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);  // x [N,in], w [out,in]

// --- convolution and pooling, NCHW ---
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor global_avg_pool2d(const Tensor& x);  // [N,C,H,W] -> [N,C]

// --- normalisation ---
// x [N,C,H,W] or [N,C]. training: batch statistics, and running statistics are
// updated in place when update_running (SAM's second pass passes false).
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                  Tensor& running_var, bool training, double momentum, double eps,
                  bool update_running = true);
// relu(batch_norm(...)) with the same arguments and the same values and
// gradients; in training one fused kernel each way, whose backward keeps only
// x and the output (no BatchNorm output and no separate ReLU pass).
Tensor batch_norm_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       Tensor& running_mean, Tensor& running_var, bool training, double momentum,
                       double eps, bool update_running = true);

// --- softmax and losses (over dim 1 of a 2-D tensor) ---
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);
// Per-sample cross-entropy [N] of logits [N,C] against i64 labels [N].
Tensor cross_entropy_per_sample(const Tensor& logits, const Tensor& labels, double smoothing = 0.0);
// Mean of the per-sample losses.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing = 0.0);

// --- indexing and joining ---
Tensor index_select(const Tensor& a, const Tensor& indices);  // dim 0, i64 indices
Tensor concat(const std::vector<Tensor>& parts, int64_t dim);  // dim 0 or 1

// --- regularisation ---
// Inverted dropout: zero with probability p, scale survivors by 1/(1-p). The
// mask comes from gen's Philox stream on x's device.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

// --- checks shared by the op front-end ---
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_floating(const Tensor& a, const char* op);

}  // namespace basin

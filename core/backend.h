// The one interface every device implements: allocation, transfers and the
// kernels the op front-end (core/ops_*.cpp) calls after it has checked shapes,
// dtypes and devices. core/cpu/ is the reference implementation; cuda/
// registers a second one. Adding an op = a method here, a CPU kernel, a CUDA
// kernel, and one case in the parity table (tests/parity_cases.h).
//
// Contract for every kernel unless its comment says otherwise:
//  - all tensors are on this backend's device and already allocated;
//  - inputs and outputs are contiguous (offset may be non-zero);
//  - floating kernels accept f32 and f64 (CUDA may reject f64 with an Error);
//  - outputs are overwritten, never accumulated into;
//  - reductions are deterministic (same inputs -> same bits).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace basin {

enum class UnaryOp { Neg, Exp, Log, Relu, Sqrt, Abs, Sign, Square, Reciprocal };

// Binary ops; ReluGrad(a, b) = a * (b > 0) (gradient a through a ReLU of b).
// Compare ops (Ge, Gt, Lt, Eq) produce 1 or 0 in the output dtype.
enum class BinaryOp { Add, Sub, Mul, Div, Max, Min, ReluGrad, Ge, Gt, Lt, Eq };

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
};

struct Pool2dParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool count_include_pad = true;  // avg pool only
};

// Output size of a convolution or pooling window along one dim.
inline int64_t window_out_size(int64_t in, int kernel, int stride, int pad, int dilation = 1) {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// Augmentation of one uint8 batch into normalised float (see data/augment.h).
// Sample i draws philox4x32(seed, offset + i): crop dy = v[0] % (2*pad+1),
// dx = v[1] % (2*pad+1), flip = flip_prob > 0 && uniform(v[2]) < flip_prob.
// Output pixel (c, y, x) of sample i = (src(c, y+dy-pad, x'+dx-pad)/255 - mean[c]) / std[c]
// with x' = W-1-x when flipped; outside the image: reflect or zero padding.
struct AugmentSpec {
  int pad = 0;              // 0 = no crop
  bool reflect_pad = false; // else zero padding (zero in uint8 space, before normalising)
  float flip_prob = 0.0f;
  float mean[4] = {0, 0, 0, 0};
  float std[4] = {1, 1, 1, 1};
};

// RandAugment of one uint8 batch (Backend::rand_augment), the first stage of
// the strong augmentation in data/strong_augment.h; the operations and their
// magnitudes are in core/rand_augment_ops.h and docs/algorithms.md. Op j of
// sample i of an N-sample batch draws philox4x32(seed, offset + j*N + i):
// op = v[0] % 14, applied when philox_uniform_f32(v[1]) < op_prob, and the
// magnitude's sign is negative when v[2] is odd.
struct RandAugmentSpec {
  int num_ops = 2;      // 0 .. 8 operations per sample
  int magnitude = 5;    // 0 .. 30 (torchvision's scale; 30 = each op's maximum)
  float op_prob = 0.5f; // each drawn op is applied with this probability
  int fill = 128;       // 0 .. 255: value of pixels a geometric op brings in from outside
};

// Base SGD update over a flat arena (PyTorch SGD semantics, see optim/sgd.h).
struct SgdStepParams {
  double lr = 0.0;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  // Optional 0-d device flag in w's dtype (the step's "poison", see
  // optim/optimizer.cpp): when its value is non-zero or NaN the step is
  // skipped on the device: w is only restored (w -= e) and m is untouched.
  Tensor skip;
  // Optional 0-d f64 tensor on w's device holding the learning rate: when
  // defined, the kernel reads lr there instead of the field, so a captured
  // step (a CUDA graph, optim/captured_step.h) learns each replay's value.
  Tensor lr_value;
};

// The named SAM-family ascent kernels (docs/optimizers.md, "The step on the
// device"). Norms arrive as 0-d device tensors holding squared norms (the dot
// kernel's output), so no value crosses to the host; rho, s(t) and the signs
// are host values known from the step number alone. Every kernel takes the
// step's skip flag (0-d, w's dtype, see SgdStepParams::skip): when it is
// non-zero or NaN, e is set to 0 and w is left as it was.
struct AscentParams {
  double rho = 0.0;
  double eps = 1e-12;  // |v| + eps in the denominator (0: plain rho / |v|)
};
struct NcsamPerturbParams {
  double rho = 0.0;
  double eps = 1e-12;
  double s_t = 0.0;         // NCSAM strength s(t)
  int sign = 1;             // +1 or -1: sign of the compensation term
  bool normalized = false;  // compensation rho s(t) g* / (|g*| + eps) instead of s(t) g*
  bool project = true;      // project e onto |e| <= rho
  Tensor s_t_value;         // optional 0-d f64 on w's device: s(t) read there (see SgdStepParams::lr_value)
};

// A captured sequence of device work (a CUDA graph) that replays as one
// launch; the memory it uses stays reserved until it is destroyed.
class CapturedWork {
 public:
  virtual ~CapturedWork() = default;
  virtual void replay() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Devices of this type present, and when there are none, why.
  virtual int device_count() const { return 1; }
  virtual std::string no_device_reason() const { return "no device"; }

  // --- memory and transfers ---
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy_device(void* dst, const void* src, size_t nbytes) = 0;  // same device
  virtual void synchronize() {}

  // --- layout ---
  virtual void fill(Tensor& out, double value) = 0;  // any dtype; out may be strided
  // dst = src elementwise; same shape and dtype; both may be strided (not overlapping).
  virtual void copy_strided(const Tensor& src, Tensor& dst) = 0;
  // dst = src converted; same numel, contiguous; float->int truncates toward zero.
  virtual void cast(const Tensor& src, Tensor& dst) = 0;

  // --- elementwise ---
  virtual void unary(UnaryOp op, const Tensor& a, Tensor& out) = 0;
  // a and b have out's shape but may be strided (stride 0 = broadcast); out
  // contiguous and allowed to alias a (in-place ops).
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void binary_scalar(BinaryOp op, const Tensor& a, double s, Tensor& out) = 0;  // out = a op s

  // --- reductions ---
  // a viewed as [outer, n, inner]; out[o, i] = sum_k a[o, k, i]  (out has outer*inner elems)
  virtual void sum_dim(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out) = 0;
  // a viewed as [outer, n, inner]; out[o, i] = max_k a[o, k, i]
  virtual void max_dim(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out) = 0;
  // a [rows, cols] floating; out i64 [rows]: first index of the maximum
  virtual void argmax_rows(const Tensor& a, Tensor& out) = 0;
  // a [rows, cols]; values [rows, k] (a's dtype) and indices i64 [rows, k],
  // descending, ties broken by the lower index.
  virtual void topk_rows(const Tensor& a, int64_t k, Tensor& values, Tensor& indices) = 0;
  // out (one element, a's dtype) = sum_i a[i] * b[i]; accumulated in double on the CPU
  virtual void dot(const Tensor& a, const Tensor& b, Tensor& out) = 0;

  // --- dense linear algebra (row-major) ---
  // For each of `batch` problems: C = alpha * op(A) * op(B) + beta * C, with
  // op(A) [M, K], op(B) [K, N], C [M, N]. A is stored [M, K] (or [K, M] when
  // trans_a), B [K, N] (or [N, K] when trans_b). Batch strides are the matrix
  // sizes; a batch stride of 0 for B is requested by b_broadcast.
  virtual void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                    double alpha, const Tensor& A, const Tensor& B, double beta, Tensor& C,
                    bool b_broadcast = false) = 0;

  // --- convolution, NCHW, groups = 1 ---
  // x [N, Cin, H, W], w [Cout, Cin, KH, KW], bias [Cout] or undefined, y [N, Cout, OH, OW]
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y,
                              const Conv2dParams& p) = 0;
  virtual void conv2d_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx,
                                     const Conv2dParams& p) = 0;
  virtual void conv2d_backward_weight(const Tensor& gy, const Tensor& x, Tensor& gw,
                                      const Conv2dParams& p) = 0;

  // --- batch normalisation over (N, H, W) per channel; x [N, C, H, W] or [N, C] ---
  // Training: batch statistics; save_mean / save_invstd [C] receive mean and
  // 1/sqrt(biased var + eps). When update_running, running_mean/var [C] become
  // (1-momentum)*running + momentum*batch (running var uses the unbiased var).
  // gamma/beta may be undefined (no affine).
  virtual void batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                Tensor& running_mean, Tensor& running_var, bool update_running,
                                double momentum, double eps, Tensor& y, Tensor& save_mean,
                                Tensor& save_invstd) = 0;
  virtual void batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               const Tensor& running_mean, const Tensor& running_var, double eps,
                               Tensor& y) = 0;
  // Gradients of the training-mode forward. ggamma/gbeta may be undefined (not wanted).
  virtual void batch_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                                   const Tensor& save_mean, const Tensor& save_invstd, Tensor& gx,
                                   Tensor& ggamma, Tensor& gbeta) = 0;
  // y = relu(batch_norm_train(x)): the same arguments, and the same bits as
  // batch_norm_train followed by a ReLU on y, which is the default
  // (core/backend_norm.cpp); a backend fuses it to skip a pass over y.
  virtual void batch_norm_relu_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                     Tensor& running_mean, Tensor& running_var,
                                     bool update_running, double momentum, double eps, Tensor& y,
                                     Tensor& save_mean, Tensor& save_invstd);
  // Gradients of y = relu(batch_norm_train(x)) given that output y: gy counts
  // where y > 0. The default masks gy into a temporary, then batch_norm_backward.
  virtual void batch_norm_relu_backward(const Tensor& gy, const Tensor& y, const Tensor& x,
                                        const Tensor& gamma, const Tensor& save_mean,
                                        const Tensor& save_invstd, Tensor& gx, Tensor& ggamma,
                                        Tensor& gbeta);

  // --- pooling, NCHW ---
  // indices i32 [N, C, OH, OW]: flat h*W+w position of the max inside its plane
  virtual void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices,
                                  const Pool2dParams& p) = 0;
  virtual void max_pool2d_backward(const Tensor& gy, const Tensor& indices, Tensor& gx) = 0;
  virtual void avg_pool2d_forward(const Tensor& x, Tensor& y, const Pool2dParams& p) = 0;
  virtual void avg_pool2d_backward(const Tensor& gy, Tensor& gx, const Pool2dParams& p) = 0;

  // --- softmax family over the last dim of [rows, cols] ---
  virtual void softmax_rows(const Tensor& x, Tensor& y, bool log) = 0;
  // gx from gy and the forward output y (softmax or log_softmax)
  virtual void softmax_backward_rows(const Tensor& gy, const Tensor& y, bool log, Tensor& gx) = 0;
  // Per-sample cross-entropy of logits [N, C] against labels i64 [N] with label
  // smoothing s: target = (1-s)*onehot + s/C. loss [N].
  virtual void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing,
                                     Tensor& loss) = 0;
  // glogits[i] = gloss[i] * (softmax(logits[i]) - target[i])
  virtual void cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                      double smoothing, const Tensor& gloss, Tensor& glogits) = 0;

  // --- indexing on dim 0 ---
  // out[i] = a[idx[i]]; idx i64; any dtype; rows are a's trailing dims
  virtual void index_select_rows(const Tensor& a, const Tensor& idx, Tensor& out) = 0;
  // out[idx[i]] += src[i] (accumulates; deterministic)
  virtual void index_add_rows(const Tensor& src, const Tensor& idx, Tensor& out) = 0;

  // --- random (see core/philox.h: element i uses counter offset + i) ---
  // uniform: lo + (hi-lo) * philox_uniform_at(seed, offset + i)
  virtual void fill_uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) = 0;
  // normal: mean + std * sqrt(-2 log(1 - u1)) * cos(2 pi u2), u1 = uniform_f64(v0, v1),
  // u2 = uniform_f64(v2, v3) of philox4x32(seed, offset + i), computed in double
  virtual void fill_normal(Tensor& out, uint64_t seed, uint64_t offset, double mean,
                           double std) = 0;
  // fill_uniform with the counter offset read on the device from an i64 0-d
  // tensor (a captured step's Philox offset changes per replay; the launch does not).
  virtual void fill_uniform_at(Tensor& out, uint64_t seed, const Tensor& offset, double lo, double hi) = 0;

  // --- optimizer arena: one fused pass over a whole flat parameter arena ---
  // The defaults compose the elementwise kernels above (several passes);
  // backends override them with single fused kernels.
  //
  // Restore and update: when e is defined, first w -= e (undo a SAM perturbation); then
  //   d = g + weight_decay * decay_mask * w    (decay_mask 0/1 per element; undefined = all 1)
  //   m = momentum * m + d                     (skipped when momentum == 0; m may be undefined)
  //   w -= lr * (nesterov ? d + momentum * m : (momentum ? m : d))
  virtual void sgd_step(Tensor& w, const Tensor& g, Tensor& m, const Tensor& decay_mask,
                        const Tensor& e, const SgdStepParams& p);
  //
  // SAM: a = rho / (sqrt(g_dot) + eps) in double, rounded to w's dtype once;
  //   e = g * a; w += e.
  virtual void sam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& g_dot,
                           const Tensor& skip, const AscentParams& p) = 0;
  // ASAM: T = scale (|w| + eta on weights, 1 elsewhere), tg_dot = |T g|^2;
  //   a = rho / (sqrt(tg_dot) + eps); e = ((g * a) * T) * T; w += e.
  virtual void asam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& scale,
                            const Tensor& tg_dot, const Tensor& skip, const AscentParams& p) = 0;
  // NCSAM: a = rho / (sqrt(g_dot) + eps), b = sign * (normalized ? rho s(t) /
  //   (sqrt(g_star_dot) + eps) : s(t)); e = g * a + g_star * b; e_dot = |e|^2
  //   (written, the norm before the projection); when project and
  //   sqrt(e_dot) > rho: e *= rho / sqrt(e_dot); w += e. A non-finite e_dot
  //   counts as skip (e = 0, w unchanged); the caller folds e_dot into its flag.
  virtual void ncsam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& g_star,
                             const Tensor& g_dot, const Tensor& g_star_dot, Tensor& e_dot,
                             const Tensor& skip, const NcsamPerturbParams& p) = 0;
  // CA-SAM: v = clean_count > 0 ? g_clean : g (SAM's fallback when the batch
  //   has no likely-clean member), then SAM's ascent along v with v's squared norm.
  virtual void casam_perturb(Tensor& w, Tensor& e, const Tensor& g_clean, const Tensor& g_clean_dot,
                             const Tensor& g, const Tensor& g_dot, const Tensor& clean_count,
                             const Tensor& skip, const AscentParams& p) = 0;

  // --- data ---
  // src u8 [N, C, H, W] -> out f32 [N, C, H, W]; see AugmentSpec
  virtual void augment(const Tensor& src, const AugmentSpec& spec, uint64_t seed, uint64_t offset,
                       Tensor& out) = 0;
  // src u8 [N, C, H, W] with C = 1 or 3 -> out u8 of the same shape (not src);
  // see RandAugmentSpec.
  virtual void rand_augment(const Tensor& src, const RandAugmentSpec& spec, uint64_t seed, uint64_t offset,
                            Tensor& out) = 0;
  // Cutout, in place on f32 [N, C, H, W]: a side x side square of every
  // sample (all channels) set to 0; sample i's top-left corner from
  // philox4x32(seed, offset + i): y0 = v[0] % (H - side + 1), x0 = v[1] % (W - side + 1).
  // Requires 0 < side <= min(H, W).
  virtual void cutout(Tensor& x, int64_t side, uint64_t seed, uint64_t offset) = 0;

  // --- graph capture (docs/optimizers.md, "Captured steps") ---
  // The defaults refuse with an Error saying capture needs the CUDA backend.
  // record_allocations: the next work (a warm-up step) runs eagerly while the
  // allocator notes the temporaries it needs at once, per size. begin_capture:
  // sets that memory aside as the capture's private pool and starts capturing
  // the stream: from then on no work runs, allocations come from the pool (a
  // missing block, a host synchronisation or a transfer to the host is an
  // Error), until end_capture returns the work, ready to replay, or
  // abort_capture drops it.
  virtual bool can_capture() const { return false; }
  virtual void record_allocations();
  virtual void begin_capture();
  virtual std::unique_ptr<CapturedWork> end_capture();
  virtual void abort_capture() {}
};

// The backend for a device; throws basin::Error when that device type has no
// backend in this build, or the index is out of range.
Backend& backend_for(Device device);
Backend& backend_of(const Tensor& t);
void register_backend(DeviceType type, Backend* backend);
bool has_backend(DeviceType type);

// Device-to-host reads: every item() and to_vector() counts one, on the CPU
// backend as on CUDA (on the CPU the copy is a no-op, but the call is the
// same), and so does every other Tensor::to(Device::cpu()) of a device
// tensor. Tests and `basin bench` read the counter around a step to show
// that a step with logging off reads nothing.
uint64_t device_to_host_reads();
void count_device_to_host_read();

}  // namespace basin

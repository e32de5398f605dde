// CPU batch normalisation over (N, H, W) per channel: training forward with
// batch statistics (and the PyTorch-style running update), evaluation forward
// and the training backward, each training pass also with a ReLU fused on its
// output (one pass less over the activation each way, and no ReLU tensor).
// Statistics are computed in double, two-pass.
#include <cmath>
#include <vector>

#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"

namespace basin::cpu {

namespace {

// x is [N, C, H, W] or [N, C]: channel c of sample n is the contiguous plane
// x + (n*C + c)*plane of `plane` = H*W (or 1) elements.
struct BnLayout {
  int64_t N, C, plane;
  int64_t count() const { return N * plane; }  // elements per channel
};

BnLayout bn_layout(const Tensor& x, const char* op) {
  check_contiguous(op, x);
  BASIN_CHECK(x.dim() == 2 || x.dim() == 4, "cpu backend ", op,
              ": expected x [N, C] or [N, C, H, W], got ", x.str());
  BnLayout l{x.size(0), x.size(1), x.dim() == 4 ? x.size(2) * x.size(3) : 1};
  return l;
}

void check_channel_vector(const Tensor& t, const Tensor& x, int64_t C, const char* op,
                          const char* operand) {
  if (!t.defined()) return;
  check_contiguous(op, t);
  check_dtype(t, x.dtype(), op, operand);
  check_numel(t, C, op, operand);
}

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Sum over channel c of term(offset) for every element offset of its planes,
// in kLanes interleaved double accumulators (element i of a plane goes to lane
// i % kLanes) combined in a fixed tree at the end. One running sum would be a
// chain of dependent adds the compiler may not reorder; lanes vectorise, and
// the order is fixed, so the result still does not depend on the threads.
constexpr int kLanes = 8;

template <class Term>
double channel_sum(const BnLayout& l, int64_t c, Term term) {
  double acc[kLanes] = {};
  for (int64_t n = 0; n < l.N; ++n) {
    const int64_t base = (n * l.C + c) * l.plane;
    int64_t i = 0;
    for (; i + kLanes <= l.plane; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += term(base + i + j);
    for (int j = 0; i < l.plane; ++i, ++j) acc[j] += term(base + i);
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// channel_sum of two terms in one pass over the planes: each sum sees the
// same additions in the same order as its own channel_sum, so the same bits.
// Terms get the element's offset in x and its index among the channel's
// N*plane elements (n*plane + i, where a per-channel buffer keeps it).
template <class TermA, class TermB>
void channel_sum2(const BnLayout& l, int64_t c, TermA term_a, TermB term_b, double& sum_a,
                  double& sum_b) {
  double a[kLanes] = {}, b[kLanes] = {};
  for (int64_t n = 0; n < l.N; ++n) {
    const int64_t base = (n * l.C + c) * l.plane, local = n * l.plane;
    int64_t i = 0;
    for (; i + kLanes <= l.plane; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        a[j] += term_a(base + i + j, local + i + j);
        b[j] += term_b(base + i + j, local + i + j);
      }
    for (int j = 0; i < l.plane; ++i, ++j) {
      a[j] += term_a(base + i, local + i);
      b[j] += term_b(base + i, local + i);
    }
  }
  sum_a = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  sum_b = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}

// The training forward, y = bn(x) or, with Relu, max(bn(x), 0) rounded to T
// first (the bits of batch_norm_train followed by a separate ReLU).
// The checks every forward makes: x's layout, y like x, gamma and beta [C].
BnLayout check_forward(const char* op, const Tensor& x, const Tensor& y, const Tensor& gamma,
                       const Tensor& beta) {
  check_contiguous(op, y);
  const BnLayout l = bn_layout(x, op);
  check_dtype(y, x.dtype(), op, "y");
  check_numel(y, x.numel(), op, "y");
  check_channel_vector(gamma, x, l.C, op, "gamma");
  check_channel_vector(beta, x, l.C, op, "beta");
  return l;
}

// running_mean and running_var present (else: `missing`) and [C].
void check_running(const char* op, const Tensor& x, const BnLayout& l, const Tensor& running_mean,
                   const Tensor& running_var, const char* missing) {
  BASIN_CHECK(running_mean.defined() && running_var.defined(), "cpu backend ", op, ": ", missing);
  check_channel_vector(running_mean, x, l.C, op, "running_mean");
  check_channel_vector(running_var, x, l.C, op, "running_var");
}

template <bool Relu>
void bn_train(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta,
              Tensor& running_mean, Tensor& running_var, bool update_running, double momentum,
              double eps, Tensor& y, Tensor& save_mean, Tensor& save_invstd) {
  const BnLayout l = check_forward(op, x, y, gamma, beta);
  const int64_t m = l.count();
  BASIN_CHECK(m > 1, "cpu backend ", op, ": training needs more than one value per channel, x is ",
              x.str());
  check_channel_vector(save_mean, x, l.C, op, "save_mean");
  check_channel_vector(save_invstd, x, l.C, op, "save_invstd");
  BASIN_CHECK(save_mean.defined() && save_invstd.defined(), "cpu backend ", op,
              ": save_mean and save_invstd must be allocated");
  if (update_running)
    check_running(op, x, l, running_mean, running_var,
                  "update_running needs running_mean and running_var");
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    const T* g = ptr_or_null<T>(gamma);
    const T* b = ptr_or_null<T>(beta);
    T* sm = save_mean.data<T>();
    T* si = save_invstd.data<T>();
    T* rm = update_running ? running_mean.data<T>() : nullptr;
    T* rv = update_running ? running_var.data<T>() : nullptr;
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain)
    for (int64_t c = 0; c < l.C; ++c) {
      const double sum = channel_sum(l, c, [&](int64_t i) { return double(xp[i]); });
      const double mean = sum / double(m);
      const double sq = channel_sum(l, c, [&](int64_t i) {
        const double d = double(xp[i]) - mean;
        return d * d;
      });
      const double var = sq / double(m);
      const double invstd = 1.0 / std::sqrt(var + eps);
      sm[c] = static_cast<T>(mean);
      si[c] = static_cast<T>(invstd);
      if (update_running) {
        const double unbiased = sq / double(m - 1);
        rm[c] = static_cast<T>((1.0 - momentum) * double(rm[c]) + momentum * mean);
        rv[c] = static_cast<T>((1.0 - momentum) * double(rv[c]) + momentum * unbiased);
      }
      const double scale = invstd * (g ? double(g[c]) : 1.0);
      const double shift = (b ? double(b[c]) : 0.0) - mean * scale;
      for (int64_t n = 0; n < l.N; ++n) {
        const T* src = xp + (n * l.C + c) * l.plane;
        T* dst = yp + (n * l.C + c) * l.plane;
        for (int64_t i = 0; i < l.plane; ++i) {
          const T v = static_cast<T>(double(src[i]) * scale + shift);
          dst[i] = Relu && v < T(0) ? T(0) : v;
        }
      }
    }
  });
}

// The training backward; with Relu, of max(bn(x), 0) given its output y:
// the upstream gradient counts where y > 0 (the ReLU's own gradient rule).
template <bool Relu>
void bn_backward(const char* op, const Tensor& gy, const Tensor& y, const Tensor& x,
                 const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd,
                 Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  check_contiguous(op, gy, gx);
  const BnLayout l = bn_layout(x, op);
  const int64_t m = l.count();
  check_dtype(gy, x.dtype(), op, "gy");
  check_numel(gy, x.numel(), op, "gy");
  if (Relu) {
    check_contiguous(op, y);
    check_dtype(y, x.dtype(), op, "y");
    check_numel(y, x.numel(), op, "y");
  }
  BASIN_CHECK(gx.defined(), "cpu backend ", op, ": gx must be allocated");
  check_dtype(gx, x.dtype(), op, "gx");
  check_numel(gx, x.numel(), op, "gx");
  check_channel_vector(gamma, x, l.C, op, "gamma");
  check_channel_vector(save_mean, x, l.C, op, "save_mean");
  check_channel_vector(save_invstd, x, l.C, op, "save_invstd");
  check_channel_vector(ggamma, x, l.C, op, "ggamma");
  check_channel_vector(gbeta, x, l.C, op, "gbeta");
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    const T* gyp = gy.data<T>();
    const T* yp = Relu ? y.data<T>() : nullptr;
    T* gxp = gx.data<T>();
    const T* g = ptr_or_null<T>(gamma);
    const T* sm = save_mean.data<T>();
    const T* si = save_invstd.data<T>();
    T* gg = mut_ptr_or_null<T>(ggamma);
    T* gb = mut_ptr_or_null<T>(gbeta);
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain)
    for (int64_t c = 0; c < l.C; ++c) {
      // With the ReLU, the channel's masked gradient goes to a per-thread
      // buffer first (a select the compiler vectorises; mixed into the sums
      // below it became a branch on the sign of y, mispredicted half the
      // time). The buffer stays in cache for the two passes that read it.
      const T* masked = nullptr;
      if constexpr (Relu) {
        static thread_local std::vector<T> buffer;
        if (buffer.size() < static_cast<size_t>(m)) buffer.resize(static_cast<size_t>(m));
        T* out = buffer.data();
        for (int64_t n = 0; n < l.N; ++n) {
          const T* gsrc = gyp + (n * l.C + c) * l.plane;
          const T* ysrc = yp + (n * l.C + c) * l.plane;
          T* dst = out + n * l.plane;
          for (int64_t i = 0; i < l.plane; ++i) dst[i] = ysrc[i] > T(0) ? gsrc[i] : T(0);
        }
        masked = out;
      }
      const auto grad = [&](int64_t at, int64_t local) -> double {
        return double(Relu ? masked[local] : gyp[at]);
      };
      const double mean = sm[c], invstd = si[c];
      // sum_gy = dL/dbeta, sum_gy_xhat = dL/dgamma.
      double sum_gy, sum_gy_xhat;
      channel_sum2(
          l, c, grad,
          [&](int64_t at, int64_t local) {
            return grad(at, local) * (double(xp[at]) - mean) * invstd;
          },
          sum_gy, sum_gy_xhat);
      if (gg) gg[c] = static_cast<T>(sum_gy_xhat);
      if (gb) gb[c] = static_cast<T>(sum_gy);
      // gx = gamma*invstd * (gy - mean(gy) - xhat * mean(gy*xhat))
      const double k = (g ? double(g[c]) : 1.0) * invstd;
      const double mean_gy = sum_gy / double(m), mean_gy_xhat = sum_gy_xhat / double(m);
      for (int64_t n = 0; n < l.N; ++n) {
        const int64_t base = (n * l.C + c) * l.plane, local = n * l.plane;
        for (int64_t i = 0; i < l.plane; ++i) {
          const double xhat = (double(xp[base + i]) - mean) * invstd;
          gxp[base + i] =
              static_cast<T>(k * (grad(base + i, local + i) - mean_gy - xhat * mean_gy_xhat));
        }
      }
    }
  });
}

}  // namespace

void CpuBackend::batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  Tensor& running_mean, Tensor& running_var, bool update_running,
                                  double momentum, double eps, Tensor& y, Tensor& save_mean,
                                  Tensor& save_invstd) {
  bn_train<false>("batch_norm_train", x, gamma, beta, running_mean, running_var, update_running,
                  momentum, eps, y, save_mean, save_invstd);
}

void CpuBackend::batch_norm_relu_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                       Tensor& running_mean, Tensor& running_var,
                                       bool update_running, double momentum, double eps, Tensor& y,
                                       Tensor& save_mean, Tensor& save_invstd) {
  bn_train<true>("batch_norm_relu_train", x, gamma, beta, running_mean, running_var,
                 update_running, momentum, eps, y, save_mean, save_invstd);
}

void CpuBackend::batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var,
                                 double eps, Tensor& y) {
  const char* op = "batch_norm_eval";
  const BnLayout l = check_forward(op, x, y, gamma, beta);
  check_running(op, x, l, running_mean, running_var, "running_mean and running_var are required");
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    const T* g = ptr_or_null<T>(gamma);
    const T* b = ptr_or_null<T>(beta);
    const T* rm = running_mean.data<T>();
    const T* rv = running_var.data<T>();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain)
    for (int64_t nc = 0; nc < l.N * l.C; ++nc) {
      const int64_t c = nc % l.C;
      const double scale = (g ? double(g[c]) : 1.0) / std::sqrt(double(rv[c]) + eps);
      const double shift = (b ? double(b[c]) : 0.0) - double(rm[c]) * scale;
      const T* src = xp + nc * l.plane;
      T* dst = yp + nc * l.plane;
      for (int64_t i = 0; i < l.plane; ++i)
        dst[i] = static_cast<T>(double(src[i]) * scale + shift);
    }
  });
}

void CpuBackend::batch_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                                     const Tensor& save_mean, const Tensor& save_invstd,
                                     Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  bn_backward<false>("batch_norm_backward", gy, Tensor(), x, gamma, save_mean, save_invstd, gx,
                     ggamma, gbeta);
}

void CpuBackend::batch_norm_relu_backward(const Tensor& gy, const Tensor& y, const Tensor& x,
                                          const Tensor& gamma, const Tensor& save_mean,
                                          const Tensor& save_invstd, Tensor& gx, Tensor& ggamma,
                                          Tensor& gbeta) {
  bn_backward<true>("batch_norm_relu_backward", gy, y, x, gamma, save_mean, save_invstd, gx,
                    ggamma, gbeta);
}

}  // namespace basin::cpu

// CPU softmax family over the last dim of [rows, cols]: softmax / log-softmax,
// their backward, and per-sample cross-entropy with label smoothing. Every row
// subtracts its maximum before exponentiating and accumulates in double.
#include <cmath>
#include <limits>
#include <vector>

#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"

namespace basin::cpu {

namespace {

struct RowsCols {
  int64_t rows, cols;
};

RowsCols rows_cols(const Tensor& x, const char* op) {
  check_contiguous(op, x);
  BASIN_CHECK(x.dim() >= 1, "cpu backend ", op, ": expected at least 1-D input, got ", x.str());
  const int64_t cols = x.size(-1);
  BASIN_CHECK(cols > 0, "cpu backend ", op, ": rows of ", x.str(), " are empty");
  return {x.numel() / cols, cols};
}

// max and log(sum(exp(x - max))) of one row.
template <class T>
void row_max_lse(const T* row, int64_t cols, double* max_out, double* lse_out) {
  double mx = -std::numeric_limits<double>::infinity();
  // NaN is skipped here but still reaches the sum, so a NaN row stays NaN.
  for (int64_t c = 0; c < cols; ++c)
    if (double(row[c]) > mx) mx = double(row[c]);
  double s = 0.0;
  for (int64_t c = 0; c < cols; ++c) s += std::exp(double(row[c]) - mx);
  *max_out = mx;
  *lse_out = std::log(s);
}

// Labels are checked before anything is written, so a bad label never leaves
// a half-written output behind.
void check_labels(const Tensor& labels, int64_t rows, int64_t cols, const char* op) {
  check_contiguous(op, labels);
  check_dtype(labels, DType::I64, op, "labels");
  check_numel(labels, rows, op, "labels");
  const int64_t* lab = labels.data<int64_t>();
  for (int64_t r = 0; r < rows; ++r)
    BASIN_CHECK(lab[r] >= 0 && lab[r] < cols, "cpu backend ", op, ": label ", lab[r], " of row ",
                r, " is outside [0, ", cols, ")");
}

}  // namespace

void CpuBackend::softmax_rows(const Tensor& x, Tensor& y, bool log) {
  const char* op = log ? "log_softmax_rows" : "softmax_rows";
  check_contiguous(op, y);
  const RowsCols rc = rows_cols(x, op);
  check_dtype(y, x.dtype(), op, "y");
  check_numel(y, x.numel(), op, "y");
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain)
    for (int64_t r = 0; r < rc.rows; ++r) {
      const T* row = xp + r * rc.cols;
      T* out = yp + r * rc.cols;
      double mx, lse;
      row_max_lse(row, rc.cols, &mx, &lse);
      for (int64_t c = 0; c < rc.cols; ++c) {
        const double shifted = double(row[c]) - mx - lse;
        out[c] = static_cast<T>(log ? shifted : std::exp(shifted));
      }
    }
  });
}

void CpuBackend::softmax_backward_rows(const Tensor& gy, const Tensor& y, bool log, Tensor& gx) {
  const char* op = log ? "log_softmax_backward_rows" : "softmax_backward_rows";
  check_contiguous(op, gy, gx);
  const RowsCols rc = rows_cols(y, op);
  check_dtype(gy, y.dtype(), op, "gy");
  check_dtype(gx, y.dtype(), op, "gx");
  check_numel(gy, y.numel(), op, "gy");
  check_numel(gx, y.numel(), op, "gx");
  dispatch_floating(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* gyp = gy.data<T>();
    const T* yp = y.data<T>();
    T* gxp = gx.data<T>();
#pragma omp parallel for schedule(static) if (y.numel() >= kParallelGrain)
    for (int64_t r = 0; r < rc.rows; ++r) {
      const T* g = gyp + r * rc.cols;
      const T* out = yp + r * rc.cols;
      T* dst = gxp + r * rc.cols;
      if (log) {  // gx = gy - softmax * sum(gy)
        double s = 0.0;
        for (int64_t c = 0; c < rc.cols; ++c) s += g[c];
        for (int64_t c = 0; c < rc.cols; ++c)
          dst[c] = static_cast<T>(double(g[c]) - std::exp(double(out[c])) * s);
      } else {  // gx = y * (gy - sum(gy * y))
        double s = 0.0;
        for (int64_t c = 0; c < rc.cols; ++c) s += double(g[c]) * double(out[c]);
        for (int64_t c = 0; c < rc.cols; ++c)
          dst[c] = static_cast<T>(double(out[c]) * (double(g[c]) - s));
      }
    }
  });
}

void CpuBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                       double smoothing, Tensor& loss) {
  const char* op = "cross_entropy_forward";
  check_contiguous(op, logits, loss);
  BASIN_CHECK(logits.dim() == 2, "cpu backend ", op, ": expected logits [N, C], got ",
              logits.str());
  const int64_t rows = logits.size(0), cols = logits.size(1);
  BASIN_CHECK(cols > 0, "cpu backend ", op, ": logits ", logits.str(), " have no classes");
  check_dtype(loss, logits.dtype(), op, "loss");
  check_numel(loss, rows, op, "loss");
  check_labels(labels, rows, cols, op);
  dispatch_floating(logits.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = logits.data<T>();
    const int64_t* lab = labels.data<int64_t>();
    T* lp = loss.data<T>();
#pragma omp parallel for schedule(static) if (logits.numel() >= kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = xp + r * cols;
      double mx, lse;
      row_max_lse(row, cols, &mx, &lse);
      // loss = -sum_c target_c * logp_c, logp_c = x_c - mx - lse
      const double logp_label = double(row[lab[r]]) - mx - lse;
      double value = -(1.0 - smoothing) * logp_label;
      if (smoothing != 0.0) {
        double sum_logp = 0.0;
        for (int64_t c = 0; c < cols; ++c) sum_logp += double(row[c]) - mx - lse;
        value -= smoothing / double(cols) * sum_logp;
      }
      lp[r] = static_cast<T>(value);
    }
  });
}

void CpuBackend::cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                        double smoothing, const Tensor& gloss, Tensor& glogits) {
  const char* op = "cross_entropy_backward";
  check_contiguous(op, logits, gloss, glogits);
  BASIN_CHECK(logits.dim() == 2, "cpu backend ", op, ": expected logits [N, C], got ",
              logits.str());
  const int64_t rows = logits.size(0), cols = logits.size(1);
  BASIN_CHECK(cols > 0, "cpu backend ", op, ": logits ", logits.str(), " have no classes");
  check_dtype(gloss, logits.dtype(), op, "gloss");
  check_dtype(glogits, logits.dtype(), op, "glogits");
  check_numel(gloss, rows, op, "gloss");
  check_numel(glogits, logits.numel(), op, "glogits");
  check_labels(labels, rows, cols, op);
  dispatch_floating(logits.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = logits.data<T>();
    const int64_t* lab = labels.data<int64_t>();
    const T* gl = gloss.data<T>();
    T* gp = glogits.data<T>();
    const double off_target = smoothing / double(cols);
#pragma omp parallel for schedule(static) if (logits.numel() >= kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = xp + r * cols;
      T* dst = gp + r * cols;
      double mx, lse;
      row_max_lse(row, cols, &mx, &lse);
      const double g = gl[r];
      for (int64_t c = 0; c < cols; ++c) {
        const double target = off_target + (c == lab[r] ? 1.0 - smoothing : 0.0);
        dst[c] = static_cast<T>(g * (std::exp(double(row[c]) - mx - lse) - target));
      }
    }
  });
}

}  // namespace basin::cpu

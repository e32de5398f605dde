// CPU max and average pooling, NCHW, one OpenMP task per (n, c) plane. Windows
// follow PyTorch's conventions: padded positions never win a max, and the
// average divides by the window clipped to the padded input (count_include_pad)
// or by the number of real pixels it covers.
#include "core/cpu/pool.h"

#include <omp.h>

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace basin::cpu {
namespace {

void check_params(const PoolShape& s, const Pool2dParams& p, const char* what) {
  BASIN_CHECK(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0 &&
                  p.pad_h >= 0 && p.pad_w >= 0,
              what, ": kernel and stride must be positive and padding non-negative, got kernel ",
              p.kernel_h, "x", p.kernel_w, " stride ", p.stride_h, "x", p.stride_w, " pad ",
              p.pad_h, "x", p.pad_w);
  BASIN_CHECK(s.N >= 0 && s.C >= 0 && s.H > 0 && s.W > 0 && s.OH > 0 && s.OW > 0, what,
              ": bad shape N=", s.N, " C=", s.C, " H=", s.H, " W=", s.W, " OH=", s.OH, " OW=", s.OW);
}

// Window of output position o along one dim: [begin, end) clipped to the input,
// plus the length of the window clipped to the padded input (for the average).
struct Window {
  int64_t begin, end, padded_len;
};
Window window(int64_t o, int stride, int pad, int kernel, int64_t in) {
  int64_t b = o * stride - pad;
  int64_t e = std::min<int64_t>(b + kernel, in + pad);
  const int64_t padded_len = e - b;
  b = std::max<int64_t>(b, 0);
  e = std::min<int64_t>(e, in);
  return {b, std::max(b, e), padded_len};
}

template <class T>
T avg_divisor(const Window& wh, const Window& ww, bool count_include_pad) {
  const int64_t n = count_include_pad ? wh.padded_len * ww.padded_len
                                      : (wh.end - wh.begin) * (ww.end - ww.begin);
  return T(n > 0 ? n : 1);
}

}  // namespace

template <class T>
void max_pool2d_forward(const PoolShape& s, const Pool2dParams& p, const T* x, T* y,
                        int32_t* indices) {
  check_params(s, p, "max_pool2d");
  BASIN_CHECK(s.H * s.W <= std::numeric_limits<int32_t>::max(),
              "max_pool2d: plane of ", s.H, "x", s.W, " does not fit int32 indices");
  const int64_t planes = s.N * s.C, hw = s.H * s.W, ohw = s.OH * s.OW;
#pragma omp parallel for schedule(static) if (planes * ohw > 16384 && !omp_in_parallel())
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * hw;
    T* yp = y + pl * ohw;
    int32_t* ip = indices + pl * ohw;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const Window wh = window(oh, p.stride_h, p.pad_h, p.kernel_h, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Window ww = window(ow, p.stride_w, p.pad_w, p.kernel_w, s.W);
        // A window entirely in the padding has no maximum: -inf and index -1.
        T best = -std::numeric_limits<T>::infinity();
        int64_t best_at = -1;
        for (int64_t h = wh.begin; h < wh.end; ++h)
          for (int64_t w = ww.begin; w < ww.end; ++w) {
            const T v = xp[h * s.W + w];
            // strict > keeps the first maximum; a NaN wins (propagates) once.
            if (best_at < 0 || v > best || (v != v && best == best)) {
              best = v;
              best_at = h * s.W + w;
            }
          }
        yp[oh * s.OW + ow] = best;
        ip[oh * s.OW + ow] = static_cast<int32_t>(best_at);
      }
    }
  }
}

template <class T>
void max_pool2d_backward(const PoolShape& s, const T* gy, const int32_t* indices, T* gx) {
  BASIN_CHECK(s.N >= 0 && s.C >= 0 && s.H > 0 && s.W > 0 && s.OH >= 0 && s.OW >= 0,
              "max_pool2d_backward: bad shape N=", s.N, " C=", s.C, " H=", s.H, " W=", s.W);
  const int64_t planes = s.N * s.C, hw = s.H * s.W, ohw = s.OH * s.OW;
  int64_t bad_index = -1;  // first out-of-plane index seen (reported after the loop)
#pragma omp parallel for schedule(static) if (planes * hw > 16384 && !omp_in_parallel())
  for (int64_t pl = 0; pl < planes; ++pl) {
    T* gp = gx + pl * hw;
    std::fill(gp, gp + hw, T(0));
    const T* gyp = gy + pl * ohw;
    const int32_t* ip = indices + pl * ohw;
    for (int64_t o = 0; o < ohw; ++o) {
      const int32_t i = ip[o];
      if (i == -1) continue;  // window entirely in the padding
      if (i < 0 || i >= hw) {
#pragma omp critical(basin_max_pool_bad_index)
        if (bad_index < 0) bad_index = pl * ohw + o;
        continue;
      }
      gp[i] += gyp[o];
    }
  }
  BASIN_CHECK(bad_index < 0, "max_pool2d_backward: indices[", bad_index, "] = ",
              bad_index < 0 ? 0 : indices[bad_index], " is outside the ", s.H, "x", s.W,
              " input plane");
}

template <class T>
void avg_pool2d_forward(const PoolShape& s, const Pool2dParams& p, const T* x, T* y) {
  check_params(s, p, "avg_pool2d");
  const int64_t planes = s.N * s.C, hw = s.H * s.W, ohw = s.OH * s.OW;
#pragma omp parallel for schedule(static) if (planes * ohw > 16384 && !omp_in_parallel())
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * hw;
    T* yp = y + pl * ohw;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const Window wh = window(oh, p.stride_h, p.pad_h, p.kernel_h, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Window ww = window(ow, p.stride_w, p.pad_w, p.kernel_w, s.W);
        T sum = T(0);
        for (int64_t h = wh.begin; h < wh.end; ++h)
          for (int64_t w = ww.begin; w < ww.end; ++w) sum += xp[h * s.W + w];
        yp[oh * s.OW + ow] = sum / avg_divisor<T>(wh, ww, p.count_include_pad);
      }
    }
  }
}

template <class T>
void avg_pool2d_backward(const PoolShape& s, const Pool2dParams& p, const T* gy, T* gx) {
  check_params(s, p, "avg_pool2d_backward");
  const int64_t planes = s.N * s.C, hw = s.H * s.W, ohw = s.OH * s.OW;
#pragma omp parallel for schedule(static) if (planes * hw > 16384 && !omp_in_parallel())
  for (int64_t pl = 0; pl < planes; ++pl) {
    T* gp = gx + pl * hw;
    std::fill(gp, gp + hw, T(0));
    const T* gyp = gy + pl * ohw;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const Window wh = window(oh, p.stride_h, p.pad_h, p.kernel_h, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Window ww = window(ow, p.stride_w, p.pad_w, p.kernel_w, s.W);
        const T g = gyp[oh * s.OW + ow] / avg_divisor<T>(wh, ww, p.count_include_pad);
        for (int64_t h = wh.begin; h < wh.end; ++h)
          for (int64_t w = ww.begin; w < ww.end; ++w) gp[h * s.W + w] += g;
      }
    }
  }
}

#define BASIN_POOL_INSTANTIATE(T)                                                              \
  template void max_pool2d_forward<T>(const PoolShape&, const Pool2dParams&, const T*, T*,     \
                                      int32_t*);                                               \
  template void max_pool2d_backward<T>(const PoolShape&, const T*, const int32_t*, T*);        \
  template void avg_pool2d_forward<T>(const PoolShape&, const Pool2dParams&, const T*, T*);    \
  template void avg_pool2d_backward<T>(const PoolShape&, const Pool2dParams&, const T*, T*);
BASIN_POOL_INSTANTIATE(float)
BASIN_POOL_INSTANTIATE(double)
#undef BASIN_POOL_INSTANTIATE

}  // namespace basin::cpu

// CPU max and average pooling (NCHW) forward and backward.
#pragma once
#include <cstdint>

#include "core/backend.h"

namespace basin::cpu {

struct PoolShape {
  int64_t N, C, H, W, OH, OW;
};

// indices: flat h*W+w of the maximum inside its (n, c) plane
template <class T>
void max_pool2d_forward(const PoolShape& s, const Pool2dParams& p, const T* x, T* y,
                        int32_t* indices);
template <class T>
void max_pool2d_backward(const PoolShape& s, const T* gy, const int32_t* indices, T* gx);
template <class T>
void avg_pool2d_forward(const PoolShape& s, const Pool2dParams& p, const T* x, T* y);
template <class T>
void avg_pool2d_backward(const PoolShape& s, const Pool2dParams& p, const T* gy, T* gx);

}  // namespace basin::cpu

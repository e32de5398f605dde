// CPU elementwise kernels: fill, strided copy, dtype casts, unary and binary
// maths. Binary operands may be arbitrary strided views of out's shape
// (stride 0 = broadcast); the all-contiguous case takes a flat parallel loop.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/cpu/cpu_backend_impl.h"
#include "core/cpu/cpu_kernel_util.h"

namespace basin::cpu {

namespace {

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Max: return "max";
    case BinaryOp::Min: return "min";
    case BinaryOp::ReluGrad: return "relu_grad";
    case BinaryOp::Ge: return "ge";
    case BinaryOp::Gt: return "gt";
    case BinaryOp::Lt: return "lt";
    case BinaryOp::Eq: return "eq";
  }
  return "?";
}

// Calls f(functor) with the functor computing `op` on two T values.
template <class T, class F>
void with_binary_functor(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add: f([](T x, T y) { return static_cast<T>(x + y); }); return;
    case BinaryOp::Sub: f([](T x, T y) { return static_cast<T>(x - y); }); return;
    case BinaryOp::Mul: f([](T x, T y) { return static_cast<T>(x * y); }); return;
    case BinaryOp::Div:
      if constexpr (std::is_floating_point_v<T>) {
        f([](T x, T y) { return x / y; });
        return;
      } else {
        fail(cat("cpu backend binary div: integer dtype ", dtype_name(dtype_of<T>),
                 " is not supported (division by zero would trap); cast to f32 or f64 first"));
      }
    // NaN in either operand propagates, as in PyTorch.
    case BinaryOp::Max: f([](T x, T y) { return (x > y || x != x) ? x : y; }); return;
    case BinaryOp::Min: f([](T x, T y) { return (x < y || x != x) ? x : y; }); return;
    case BinaryOp::ReluGrad: f([](T x, T y) { return y > T(0) ? x : T(0); }); return;
    case BinaryOp::Ge: f([](T x, T y) { return x >= y ? T(1) : T(0); }); return;
    case BinaryOp::Gt: f([](T x, T y) { return x > y ? T(1) : T(0); }); return;
    case BinaryOp::Lt: f([](T x, T y) { return x < y ? T(1) : T(0); }); return;
    case BinaryOp::Eq: f([](T x, T y) { return x == y ? T(1) : T(0); }); return;
  }
  fail(cat("cpu backend binary: unknown op code ", static_cast<int>(op)));
}

template <class T, class F>
void with_unary_functor(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::Neg: f([](T x) { return -x; }); return;
    case UnaryOp::Exp: f([](T x) { return std::exp(x); }); return;
    case UnaryOp::Log: f([](T x) { return std::log(x); }); return;
    // written so NaN passes through (NaN < 0 is false) and the loop still vectorises
    case UnaryOp::Relu: f([](T x) { return x < T(0) ? T(0) : x; }); return;
    case UnaryOp::Sqrt: f([](T x) { return std::sqrt(x); }); return;
    case UnaryOp::Abs: f([](T x) { return std::abs(x); }); return;
    case UnaryOp::Sign: f([](T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x); }); return;
    case UnaryOp::Square: f([](T x) { return x * x; }); return;
    case UnaryOp::Reciprocal: f([](T x) { return T(1) / x; }); return;
  }
  fail(cat("cpu backend unary: unknown op code ", static_cast<int>(op)));
}

// Floating -> integral goes through int64 so negative values wrap instead of
// being undefined for u8; everything else is a plain conversion.
template <class Dst, class Src>
Dst convert(Src v) {
  if constexpr (std::is_floating_point_v<Src> && std::is_integral_v<Dst>) {
    return static_cast<Dst>(static_cast<int64_t>(v));
  } else {
    return static_cast<Dst>(v);
  }
}

// An unsigned type of the given byte size: strided copies move bits, not values.
template <size_t Bytes> struct Bits;
template <> struct Bits<1> { using type = uint8_t; };
template <> struct Bits<4> { using type = uint32_t; };
template <> struct Bits<8> { using type = uint64_t; };

template <class U>
void copy_strided_bits(const Tensor& src, Tensor& dst) {
  const U* s = static_cast<const U*>(src.raw_data());
  U* d = static_cast<U*>(dst.raw_data());
  const RowPlan<2> plan = plan_rows<2>(dst.shape(), {&src.strides(), &dst.strides()});
  for_each_row(plan, [&](const std::array<int64_t, 2>& start, int64_t len,
                         const std::array<int64_t, 2>& step) {
    const U* sp = s + start[0];
    U* dp = d + start[1];
    if (step[0] == 1 && step[1] == 1) {
      std::memcpy(dp, sp, static_cast<size_t>(len) * sizeof(U));
    } else {
      for (int64_t i = 0; i < len; ++i) dp[i * step[1]] = sp[i * step[0]];
    }
  });
}

}  // namespace

void CpuBackend::fill(Tensor& out, double value) {
  if (out.numel() == 0) return;
  dispatch_all(out.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    const T v = convert<T>(value);
    T* base = static_cast<T*>(out.raw_data());
    if (out.is_contiguous()) {
      const int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
      for (int64_t i = 0; i < n; ++i) base[i] = v;
      return;
    }
    const RowPlan<1> plan = plan_rows<1>(out.shape(), {&out.strides()});
    for_each_row(plan, [&](const std::array<int64_t, 1>& start, int64_t len,
                           const std::array<int64_t, 1>& step) {
      T* p = base + start[0];
      for (int64_t i = 0; i < len; ++i) p[i * step[0]] = v;
    });
  });
}

void CpuBackend::copy_strided(const Tensor& src, Tensor& dst) {
  check_dtype(src, dst.dtype(), "copy_strided", "src");
  BASIN_CHECK(src.shape() == dst.shape(), "cpu backend copy_strided: src ", src.str(),
              " and dst ", dst.str(), " differ in shape");
  if (dst.numel() == 0) return;
  switch (dtype_size(dst.dtype())) {
    case 1: copy_strided_bits<Bits<1>::type>(src, dst); return;
    case 4: copy_strided_bits<Bits<4>::type>(src, dst); return;
    case 8: copy_strided_bits<Bits<8>::type>(src, dst); return;
    default: fail(cat("cpu backend copy_strided: unsupported element size of ", dst.str()));
  }
}

void CpuBackend::cast(const Tensor& src, Tensor& dst) {
  check_contiguous("cast", src, dst);
  check_numel(dst, src.numel(), "cast", "dst");
  const int64_t n = src.numel();
  if (n == 0) return;
  dispatch_all(src.dtype(), "cast", [&](auto src_tag) {
    using S = decltype(src_tag);
    dispatch_all(dst.dtype(), "cast", [&](auto dst_tag) {
      using D = decltype(dst_tag);
      const S* s = src.data<S>();
      D* d = dst.data<D>();
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
      for (int64_t i = 0; i < n; ++i) d[i] = convert<D>(s[i]);
    });
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& a, Tensor& out) {
  check_contiguous("unary", a, out);
  check_dtype(out, a.dtype(), "unary", "out");
  check_numel(out, a.numel(), "unary", "out");
  const int64_t n = a.numel();
  dispatch_floating(a.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    with_unary_functor<T>(op, [&](auto f) {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
      for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
    });
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const char* name = binary_op_name(op);
  check_contiguous(name, out);
  BASIN_CHECK(a.dtype() == out.dtype() && b.dtype() == out.dtype(), "cpu backend binary ", name,
              ": operands ", a.str(), " and ", b.str(), " must have out's dtype ",
              dtype_name(out.dtype()));
  BASIN_CHECK(a.shape() == out.shape() && b.shape() == out.shape(), "cpu backend binary ", name,
              ": operands ", a.str(), " and ", b.str(), " must be (broadcast) views of out's shape ",
              shape_str(out.shape()));
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_all(out.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(a.raw_data());
    const T* y = static_cast<const T*>(b.raw_data());
    T* z = static_cast<T*>(out.raw_data());
    with_binary_functor<T>(op, [&](auto f) {
      if (a.is_contiguous() && b.is_contiguous()) {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
        for (int64_t i = 0; i < n; ++i) z[i] = f(x[i], y[i]);
        return;
      }
      // out is contiguous, so its strides are the contiguous ones.
      const Shape out_strides = contiguous_strides(out.shape());
      const RowPlan<3> plan =
          plan_rows<3>(out.shape(), {&a.strides(), &b.strides(), &out_strides});
      for_each_row(plan, [&](const std::array<int64_t, 3>& start, int64_t len,
                             const std::array<int64_t, 3>& step) {
        const T* xp = x + start[0];
        const T* yp = y + start[1];
        T* zp = z + start[2];
        const int64_t sx = step[0], sy = step[1];
        if (sx == 1 && sy == 1) {
          for (int64_t i = 0; i < len; ++i) zp[i] = f(xp[i], yp[i]);
        } else if (sx == 1 && sy == 0) {
          const T yv = *yp;
          for (int64_t i = 0; i < len; ++i) zp[i] = f(xp[i], yv);
        } else if (sx == 0 && sy == 1) {
          const T xv = *xp;
          for (int64_t i = 0; i < len; ++i) zp[i] = f(xv, yp[i]);
        } else {
          for (int64_t i = 0; i < len; ++i) zp[i] = f(xp[i * sx], yp[i * sy]);
        }
      });
    });
  });
}

void CpuBackend::binary_scalar(BinaryOp op, const Tensor& a, double s, Tensor& out) {
  const char* name = binary_op_name(op);
  check_contiguous(name, a, out);
  check_dtype(out, a.dtype(), name, "out");
  check_numel(out, a.numel(), name, "out");
  const int64_t n = a.numel();
  dispatch_all(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    T* z = out.data<T>();
    const T sv = convert<T>(s);
    with_binary_functor<T>(op, [&](auto f) {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
      for (int64_t i = 0; i < n; ++i) z[i] = f(x[i], sv);
    });
  });
}

}  // namespace basin::cpu

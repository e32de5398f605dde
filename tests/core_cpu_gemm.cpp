// Tests of the CPU gemm kernel (core/cpu/gemm.cpp) against a plain double loop:
// every transpose combination, odd sizes, padded leading dimensions, alpha/beta,
// shapes that cross every cache block, and bit-identity across thread counts.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/cpu/gemm.h"
#include "core/error.h"

namespace {

template <class T>
std::vector<T> random_values(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.1, 1.0);
  std::bernoulli_distribution negative(0.5);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(negative(rng) ? -u(rng) : u(rng));
  return v;
}

struct GemmCase {
  bool ta, tb;
  int64_t M, N, K;
  double alpha, beta;
  int64_t pad;  // extra leading-dimension elements on every operand
};

// Runs one case and returns the worst error relative to sum |alpha a b| + |beta c|
// (the scale rounding errors grow with); also checks padding was left untouched.
template <class T>
double run_case(const GemmCase& c, std::mt19937& rng, bool* padding_ok) {
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  const std::vector<T> A = random_values<T>(static_cast<size_t>(a_rows * lda), rng);
  const std::vector<T> B = random_values<T>(static_cast<size_t>(b_rows * ldb), rng);
  std::vector<T> C = random_values<T>(static_cast<size_t>(c.M * ldc), rng);
  const T sentinel = T(12345.0);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = c.N; j < ldc; ++j) C[i * ldc + j] = sentinel;
  // beta == 0 must ignore C entirely, NaNs included
  if (c.beta == 0.0)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) C[i * ldc + j] = std::nan("");
  const std::vector<T> C0 = C;

  basin::cpu::gemm<T>(c.ta, c.tb, c.M, c.N, c.K, T(c.alpha), A.data(), lda, B.data(), ldb,
                      T(c.beta), C.data(), ldc);

  double worst = 0.0;
  *padding_ok = true;
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < c.N; ++j) {
      double sum = 0.0, scale = 0.0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = c.ta ? A[k * lda + i] : A[i * lda + k];
        const double b = c.tb ? B[j * ldb + k] : B[k * ldb + j];
        sum += a * b;
        scale += std::fabs(a * b);
      }
      double ref = c.alpha * sum;
      scale = std::fabs(c.alpha) * scale;
      if (c.beta != 0.0) {
        ref += c.beta * static_cast<double>(C0[i * ldc + j]);
        scale += std::fabs(c.beta * static_cast<double>(C0[i * ldc + j]));
      }
      const double got = C[i * ldc + j];
      const double err = std::isfinite(got) ? std::fabs(got - ref) / (scale + 1e-300) : 1e300;
      worst = std::max(worst, err);
    }
    for (int64_t j = c.N; j < ldc; ++j)
      if (C[i * ldc + j] != sentinel) *padding_ok = false;
  }
  return worst;
}

template <class T>
void sweep_sizes(double tolerance) {
  std::mt19937 rng(1234);
  const int64_t sizes[] = {1, 3, 17, 64, 129};
  const double alpha_beta[][2] = {{1.0, 0.0}, {-0.75, 0.0}, {1.0, 1.0}, {1.5, -0.5}};
  int checked = 0;
  for (int t = 0; t < 4; ++t)
    for (int64_t M : sizes)
      for (int64_t N : sizes)
        for (int64_t K : sizes) {
          const auto& ab = alpha_beta[(M + 3 * N + 7 * K + t) % 4];
          const GemmCase c{(t & 1) != 0, (t & 2) != 0, M, N, K, ab[0], ab[1], (M + K) % 3};
          bool padding_ok = false;
          const double err = run_case<T>(c, rng, &padding_ok);
          INFO("ta=", c.ta, " tb=", c.tb, " M=", M, " N=", N, " K=", K, " alpha=", c.alpha,
               " beta=", c.beta, " pad=", c.pad);
          CHECK(err <= tolerance);
          CHECK(padding_ok);
          ++checked;
        }
  CHECK(checked == 500);
}

}  // namespace

TEST_CASE("core: cpu gemm float, all transposes, odd sizes, alpha/beta, padded ld") {
  sweep_sizes<float>(1e-5);
}

TEST_CASE("core: cpu gemm double, all transposes, odd sizes, alpha/beta, padded ld") {
  sweep_sizes<double>(1e-13);
}

TEST_CASE("core: cpu gemm shapes crossing every cache block (MC, KC, NC), few and many rows") {
  std::mt19937 rng(99);
  for (int t = 0; t < 4; ++t) {
    bool padding_ok = false;
    // float blocks: MC 144, KC 256, NC 3072; double: MC 96, KC 256, NC 1536
    const GemmCase cf{(t & 1) != 0, (t & 2) != 0, 150, 3100, 261, 0.5, t == 3 ? 0.0 : 2.0, 1};
    INFO("float case t=", t);
    CHECK(run_case<float>(cf, rng, &padding_ok) <= 1e-5);
    CHECK(padding_ok);
    const GemmCase cd{(t & 1) != 0, (t & 2) != 0, 101, 1540, 520, -1.0, t == 1 ? 0.0 : 0.25, 2};
    INFO("double case t=", t);
    CHECK(run_case<double>(cd, rng, &padding_ok) <= 1e-13);
    CHECK(padding_ok);
    // few rows: B is read in place instead of packed (non-transposed B only)
    const GemmCase cs{(t & 1) != 0, (t & 2) != 0, 40, 3090, 300, 1.25, t == 2 ? 0.0 : -1.0, 3};
    INFO("few-rows float case t=", t);
    CHECK(run_case<float>(cs, rng, &padding_ok) <= 1e-5);
    CHECK(padding_ok);
  }
}

TEST_CASE("core: cpu gemm A * B^T with a thin side and long k (the in-place dot route)") {
  // Shapes of convolution weight gradients: one side <= 16, k >= 256, with
  // edges in every tile dimension (4, 6 rows) and a k tail (16 lanes).
  std::mt19937 rng(31);
  const int64_t shapes[][3] = {{16, 150, 300}, {150, 16, 513}, {61, 7, 1000},
                               {5, 64, 257},   {64, 13, 2049}, {3, 1, 256}};
  int index = 0;
  for (const auto& sh : shapes) {
    const double alpha = index % 2 ? -0.5 : 1.0, beta = index % 3 == 0 ? 0.0 : 0.75;
    const GemmCase c{false, true, sh[0], sh[1], sh[2], alpha, beta, index % 3};
    bool padding_ok = false;
    INFO("M=", c.M, " N=", c.N, " K=", c.K, " alpha=", alpha, " beta=", beta);
    CHECK(run_case<float>(c, rng, &padding_ok) <= 1e-5);
    CHECK(padding_ok);
    ++index;
  }
}

// B written straight into packed_b_layout order gives gemm's own bits where
// gemm runs its blocked loops (above its plain-loop size): the same blocks,
// k order and kernel, only the packing pass is skipped.
template <class T>
void check_packed_b(int64_t M, int64_t N, int64_t K, double alpha, double beta, std::mt19937& rng) {
  INFO("M=", M, " N=", N, " K=", K, " alpha=", alpha, " beta=", beta);
  const std::vector<T> A = random_values<T>(static_cast<size_t>(M * K), rng);
  const std::vector<T> B = random_values<T>(static_cast<size_t>(K * N), rng);
  const std::vector<T> C0 = random_values<T>(static_cast<size_t>(M * N), rng);
  const basin::cpu::PackedBLayout L = basin::cpu::packed_b_layout<T>(K, N);
  // Padding columns hold NaN: the kernel's results for them must be dropped.
  std::vector<T> packed(static_cast<size_t>(L.size()), T(std::nan("")));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) packed[static_cast<size_t>(L.offset(k, n))] = B[k * N + n];
  std::vector<T> want = C0, got = C0;
  basin::cpu::gemm<T>(false, false, M, N, K, T(alpha), A.data(), K, B.data(), N, T(beta),
                      want.data(), N);
  basin::cpu::gemm_packed_b<T>(M, N, K, T(alpha), A.data(), K, packed.data(), T(beta), got.data(), N);
  CHECK(got == want);
  // and gemm itself is checked against double loops above
}

TEST_CASE("core: cpu gemm with B given in its packed layout") {
  std::mt19937 rng(77);
  // more than 48 rows (gemm packs B), a partial last sliver, several k and n blocks
  check_packed_b<float>(56, 3100, 300, 1.0, 0.0, rng);
  check_packed_b<float>(150, 97, 45, -0.5, 1.0, rng);
  check_packed_b<float>(64, 48, 256, 1.0, 0.0, rng);
  check_packed_b<double>(70, 1600, 520, 2.0, -0.25, rng);
  check_packed_b<double>(49, 30, 20, 1.0, 0.0, rng);  // above gemm's plain-loop size
  // The layout itself: every (k, n) has its own slot inside size().
  const basin::cpu::PackedBLayout L = basin::cpu::packed_b_layout<float>(300, 3100);
  std::vector<int> seen(static_cast<size_t>(L.size()), 0);
  for (int64_t k = 0; k < L.K; ++k)
    for (int64_t n = 0; n < L.N; ++n) ++seen[static_cast<size_t>(L.offset(k, n))];
  int64_t used = 0, twice = 0;
  for (int v : seen) used += v > 0, twice += v > 1;
  CHECK(used == L.K * L.N);
  CHECK(twice == 0);
}

TEST_CASE("core: cpu gemm K == 0 and alpha == 0 give beta * C") {
  std::vector<float> C = {1.0f, -2.0f, 3.0f, 4.0f};
  const float A[1] = {std::nanf("")}, B[1] = {std::nanf("")};
  basin::cpu::gemm<float>(false, false, 2, 2, 0, 1.0f, A, 1, B, 2, 0.5f, C.data(), 2);
  CHECK(C == std::vector<float>{0.5f, -1.0f, 1.5f, 2.0f});
  std::vector<double> D(4, std::nan(""));
  const double Ad[4] = {1, 2, 3, 4};
  basin::cpu::gemm<double>(true, true, 2, 2, 2, 0.0, Ad, 2, Ad, 2, 0.0, D.data(), 2);
  CHECK(D == std::vector<double>(4, 0.0));
}

TEST_CASE("core: cpu gemm gives the same bits on 1 and 2 threads") {
  std::mt19937 rng(7);
  // 230 x 310 takes the packed route, 40 x 310 the in-place dot route
  for (const int64_t M : {230, 40}) {
    const int64_t N = 310, K = 700;
    const std::vector<float> A = random_values<float>(static_cast<size_t>(M * K), rng);
    const std::vector<float> B = random_values<float>(static_cast<size_t>(K * N), rng);
    std::vector<float> C1(static_cast<size_t>(M * N)), C2(C1.size());
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    basin::cpu::gemm<float>(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, C1.data(), N);
    omp_set_num_threads(2);
    basin::cpu::gemm<float>(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, C2.data(), N);
    omp_set_num_threads(saved);
    CHECK(C1 == C2);
    double worst = 0.0;
    for (int64_t i = 0; i < M; i += 13)
      for (int64_t j = 0; j < N; j += 11) {
        double ref = 0.0, scale = 0.0;
        for (int64_t k = 0; k < K; ++k) {
          ref += double(A[i * K + k]) * B[j * K + k];
          scale += std::fabs(double(A[i * K + k]) * B[j * K + k]);
        }
        worst = std::max(worst, std::fabs(C2[i * N + j] - ref) / scale);
      }
    CHECK(worst <= 1e-5);
  }
}

TEST_CASE("core: cpu gemm rejects leading dimensions smaller than the rows they hold") {
  std::vector<float> A(12, 1.0f), B(12, 1.0f), C(12, 0.0f);
  // op(A) is 3x4: stored [3,4] needs lda >= 4, stored [4,3] (trans_a) needs lda >= 3
  CHECK_THROWS_AS(basin::cpu::gemm<float>(false, false, 3, 3, 4, 1.0f, A.data(), 3, B.data(), 3,
                                          0.0f, C.data(), 3),
                  basin::Error);
  CHECK_THROWS_AS(basin::cpu::gemm<float>(false, true, 3, 3, 4, 1.0f, A.data(), 4, B.data(), 3,
                                          0.0f, C.data(), 3),
                  basin::Error);
  CHECK_THROWS_AS(basin::cpu::gemm<float>(false, false, 3, 3, 4, 1.0f, A.data(), 4, B.data(), 3,
                                          0.0f, C.data(), 2),
                  basin::Error);
  CHECK_NOTHROW(basin::cpu::gemm<float>(true, false, 3, 3, 4, 1.0f, A.data(), 3, B.data(), 3,
                                        0.0f, C.data(), 3));
  CHECK(C[0] == 4.0f);
}

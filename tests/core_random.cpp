// Random fills and host draws: bit-exact replay from a (seed, offset) state,
// element i drawn from Philox counter offset + i (checked against the formulas
// in core/philox.h and core/backend.h), and the moments of large samples.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/philox.h"
#include "core/rng.h"
#include "core_reference.h"

using namespace basin;
using namespace basin::testing;

namespace {

template <class T>
bool bit_identical(const Tensor& a, const Tensor& b) {
  const std::vector<T> av = a.to_vector<T>(), bv = b.to_vector<T>();
  return av.size() == bv.size() && std::memcmp(av.data(), bv.data(), av.size() * sizeof(T)) == 0;
}

void moments(const std::vector<double>& v, double* mean, double* var) {
  double s = 0;
  for (double x : v) s += x;
  *mean = s / v.size();
  double ss = 0;
  for (double x : v) ss += (x - *mean) * (x - *mean);
  *var = ss / (v.size() - 1);
}

}  // namespace

TEST_CASE("core: rand and randn replay bit-identically from the same state") {
  for (DType dt : {DType::F32, DType::F64}) {
    Generator g1(1234), g2(1234);
    const Tensor a = rand({3, 50}, g1, dt), b = rand({3, 50}, g2, dt);
    CHECK(a.dtype() == dt);
    CHECK(a.shape() == Shape{3, 50});
    const Tensor na = randn({77}, g1, dt), nb = randn({77}, g2, dt);
    if (dt == DType::F32) {
      CHECK(bit_identical<float>(a, b));
      CHECK(bit_identical<float>(na, nb));
    } else {
      CHECK(bit_identical<double>(a, b));
      CHECK(bit_identical<double>(na, nb));
    }
    // A generator restored to a saved state replays the same fill.
    Generator g3(999);
    g3.set_state(1234, 150);
    const Tensor nc = randn({77}, g3, dt);
    CHECK(to_doubles(nc) == to_doubles(na));
  }
}

TEST_CASE("core: fills advance the offset by numel; different offsets differ") {
  Generator g(42);
  CHECK(g.seed() == 42);
  CHECK(g.offset() == 0);
  const Tensor first = rand({10, 10}, g, DType::F64);
  CHECK(g.offset() == 100);
  const Tensor second = rand({100}, g, DType::F64);
  CHECK(g.offset() == 200);
  randn({7}, g, DType::F32);
  CHECK(g.offset() == 207);
  const std::vector<double> fv = to_doubles(first), sv = to_doubles(second);
  int same = 0;
  for (int i = 0; i < 100; ++i) same += fv[i] == sv[i];
  CHECK(same < 3);
  // A different seed at the same offset gives a different stream.
  Generator other(43);
  const std::vector<double> ov = to_doubles(rand({100}, other, DType::F64));
  same = 0;
  for (int i = 0; i < 100; ++i) same += fv[i] == ov[i];
  CHECK(same < 3);

  Generator h(5);
  CHECK(h.advance(10) == 0);
  CHECK(h.advance(3) == 10);
  CHECK(h.offset() == 13);
}

TEST_CASE("core: element i of a fill uses Philox counter offset + i") {
  const uint64_t seed = 0x1234567890abcdefull, offset = 1000;
  Generator g(seed);
  g.set_state(seed, offset);
  const std::vector<double> u64 = to_doubles(rand({257}, g, DType::F64));
  const std::vector<double> n64 = to_doubles(randn({257}, g, DType::F64));
  g.set_state(seed, offset);
  const std::vector<double> u32 = to_doubles(rand({257}, g, DType::F32));
  std::vector<double> eu, en, eu32;
  for (uint64_t i = 0; i < 257; ++i) {
    eu.push_back(philox_uniform_at(seed, offset + i));
    eu32.push_back(static_cast<float>(philox_uniform_at(seed, offset + i)));
    const Philox4 r = philox4x32(seed, offset + 257 + i);
    const double u1 = philox_uniform_f64(r.v[0], r.v[1]), u2 = philox_uniform_f64(r.v[2], r.v[3]);
    en.push_back(std::sqrt(-2 * std::log(1 - u1)) * std::cos(2 * M_PI * u2));
  }
  check_close(u64, eu, 0, "rand f64 = philox_uniform_at(seed, offset + i)");
  check_close(n64, en, 1e-12, "randn f64 = Box-Muller of philox4x32(seed, offset + i)");
  check_close(u32, eu32, 1e-7, "rand f32");
  // So a fill from offset + 1 is the same stream shifted by one element.
  g.set_state(seed, offset + 1);
  const std::vector<double> shifted = to_doubles(rand({256}, g, DType::F64));
  check_close(shifted, std::vector<double>(eu.begin() + 1, eu.end()), 0, "shifted stream");
}

TEST_CASE("core: uniform and normal moments over 100k samples") {
  Generator g(2024);
  for (DType dt : {DType::F32, DType::F64}) {
    const std::vector<double> u = to_doubles(rand({100000}, g, dt));
    double mean, var;
    moments(u, &mean, &var);
    CHECK(std::fabs(mean - 0.5) < 0.005);          // sd of the mean ~0.0009
    CHECK(std::fabs(var - 1.0 / 12) < 0.002);
    CHECK(*std::min_element(u.begin(), u.end()) >= 0.0);
    CHECK(*std::max_element(u.begin(), u.end()) < 1.0);

    const std::vector<double> n = to_doubles(randn({100000}, g, dt));
    moments(n, &mean, &var);
    CHECK(std::fabs(mean) < 0.015);                 // sd of the mean ~0.003
    CHECK(std::fabs(var - 1.0) < 0.02);
    int beyond_two_sd = 0;
    for (double v : n) beyond_two_sd += std::fabs(v) > 2.0;
    CHECK(std::fabs(beyond_two_sd / 100000.0 - 0.0455) < 0.004);
  }
}

TEST_CASE("core: default generator and manual_seed") {
  manual_seed(31);
  const Tensor a = rand({20});
  const Tensor an = randn({20}, DType::F64);
  manual_seed(31);
  const Tensor b = rand({20});
  const Tensor bn = randn({20}, DType::F64);
  CHECK(bit_identical<float>(a, b));
  CHECK(bit_identical<double>(an, bn));
  CHECK(default_generator().seed() == 31);
  CHECK(default_generator().offset() == 40);
}

TEST_CASE("core: host draws replay and stay in range") {
  Generator g1(8), g2(8);
  double sum_u = 0, sum_n = 0, sum_nn = 0;
  std::vector<int> counts(7, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double u = g1.uniform();
    CHECK(u == g2.uniform());
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum_u += u;
    const int64_t k = g1.randint(7);
    CHECK(k == g2.randint(7));
    REQUIRE(k >= 0);
    REQUIRE(k < 7);
    ++counts[k];
    const double z = g1.normal();
    CHECK(z == g2.normal());
    sum_n += z;
    sum_nn += z * z;
    CHECK(g1.next_u64() == g2.next_u64());
  }
  CHECK(std::fabs(sum_u / n - 0.5) < 0.01);
  CHECK(std::fabs(sum_n / n) < 0.03);
  CHECK(std::fabs(sum_nn / n - 1.0) < 0.05);
  for (int c : counts) CHECK(std::fabs(c / double(n) - 1.0 / 7) < 0.015);
  CHECK(g1.offset() == g2.offset());
  CHECK(g1.offset() > 0);
}

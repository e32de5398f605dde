// The probe library (optim/hessian, optim/sharpness, optim/landscape,
// optim/probe_loss) against answers computed independently in f64: a quadratic
// with a chosen spectrum (eigenvalues, trace, the exact max over the rho-ball),
// and a tiny MLP whose whole Hessian is built here from second differences of
// loss VALUES and diagonalised by Jacobi rotations.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "optim/hessian.h"
#include "optim/landscape.h"
#include "optim/sharpness.h"
#include "optim_fixture.h"

using namespace basin;
using namespace basin::optim;
using optim_test::Vec;

namespace {

using Matrix = std::vector<Vec>;

Matrix random_orthogonal(int n, Generator& gen) {  // Gram-Schmidt on Gaussian columns
  Matrix q(n, Vec(n));
  for (int j = 0; j < n; ++j) {
    Vec c(n);
    for (double& x : c) x = gen.normal();
    for (int k = 0; k < j; ++k) {
      double d = 0;
      for (int i = 0; i < n; ++i) d += c[i] * q[i][k];
      for (int i = 0; i < n; ++i) c[i] -= d * q[i][k];
    }
    double s = 0;
    for (double x : c) s += x * x;
    for (int i = 0; i < n; ++i) q[i][j] = c[i] / std::sqrt(s);
  }
  return q;
}

// L(w) = 1/2 (w - c)^T A (w - c), A = Q diag(spectrum) Q^T, in plain doubles.
class QuadraticLoss : public ProbeLoss {
 public:
  QuadraticLoss(const Vec& spectrum, bool rotate, uint64_t seed) : n_(static_cast<int>(spectrum.size())) {
    Generator gen(seed);
    q_ = rotate ? random_orthogonal(n_, gen) : identity();
    a_.assign(n_, Vec(n_, 0.0));
    for (int i = 0; i < n_; ++i)
      for (int j = 0; j < n_; ++j)
        for (int k = 0; k < n_; ++k) a_[i][j] += q_[i][k] * spectrum[k] * q_[j][k];
    c_.resize(n_);
    for (double& x : c_) x = gen.normal();
    Vec w(n_);
    for (double& x : w) x = gen.normal();
    w_ = from_vector<double>(w, {n_});
  }
  Tensor& params() override { return w_; }
  LossValue evaluate() override { return {value(w_.to_vector<double>()), NAN}; }
  double gradient(Tensor& grad) override {
    const Vec w = w_.to_vector<double>();
    grad.copy_(from_vector<double>(a_times(diff(w)), {n_}));
    return value(w);
  }
  double value(const Vec& w) const {
    const Vec d = diff(w), ad = a_times(d);
    return 0.5 * std::inner_product(d.begin(), d.end(), ad.begin(), 0.0);
  }
  Vec diff(const Vec& w) const {
    Vec d(n_);
    for (int i = 0; i < n_; ++i) d[i] = w[i] - c_[i];
    return d;
  }
  Vec a_times(const Vec& v) const {
    Vec out(n_, 0.0);
    for (int i = 0; i < n_; ++i)
      for (int j = 0; j < n_; ++j) out[i] += a_[i][j] * v[j];
    return out;
  }
  const Matrix& a() const { return a_; }
  const Matrix& q() const { return q_; }

 private:
  Matrix identity() const {
    Matrix m(n_, Vec(n_, 0.0));
    for (int i = 0; i < n_; ++i) m[i][i] = 1;
    return m;
  }
  int n_;
  Matrix q_, a_;
  Vec c_;
  Tensor w_;
};

// Cyclic Jacobi rotations: the eigenvalues of a symmetric matrix.
Vec jacobi_eigenvalues(Matrix a) {
  const int n = static_cast<int>(a.size());
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) off += a[p][q] * a[p][q];
    if (off < 1e-26) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        if (std::abs(a[p][q]) < 1e-300) continue;
        const double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const double t = (theta >= 0 ? 1 : -1) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; ++k) {  // columns p, q
          const double akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // rows p, q
          const double apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
      }
  }
  Vec ev(n);
  for (int i = 0; i < n; ++i) ev[i] = a[i][i];
  return ev;
}

Vec by_magnitude(Vec v) {
  std::sort(v.begin(), v.end(), [](double x, double y) { return std::abs(x) > std::abs(y); });
  return v;
}

// max over |e| <= rho of 1/2 (d+e)^T D (d+e) for diagonal D > 0 (the boundary
// solution e_i = D_i d_i / (mu - D_i), mu > max D, found by bisection on |e| = rho).
double exact_ball_max(const Vec& diag, const Vec& d, double rho) {
  const double top = *std::max_element(diag.begin(), diag.end());
  auto e_of = [&](double mu) {
    Vec e(diag.size());
    for (size_t i = 0; i < diag.size(); ++i) e[i] = diag[i] * d[i] / (mu - diag[i]);
    return e;
  };
  auto norm_of = [](const Vec& e) { return std::sqrt(std::inner_product(e.begin(), e.end(), e.begin(), 0.0)); };
  double lo = top + 1e-12, hi = top + 1e6;
  for (int it = 0; it < 300; ++it) {
    const double mid = 0.5 * (lo + hi);
    (norm_of(e_of(mid)) > rho ? lo : hi) = mid;
  }
  const Vec e = e_of(hi);
  double v = 0;
  for (size_t i = 0; i < diag.size(); ++i) v += 0.5 * diag[i] * (d[i] + e[i]) * (d[i] + e[i]);
  return v;
}

const Vec kSpectrum = {6.0, 3.5, 2.0, 1.0, 0.5, 0.25, -0.3, 0.1};

}  // namespace

TEST_CASE("probe: power iteration with deflation finds a quadratic's top eigenvalues and eigenvectors") {
  QuadraticLoss q(kSpectrum, true, 11);
  const Vec w_before = q.params().to_vector<double>();
  Generator gen(3);
  EigenOptions opt;
  opt.count = 3;
  opt.iterations = 400;
  opt.tolerance = 1e-13;
  opt.hessian.step = 1e-3;  // exact for a quadratic up to rounding
  const EigenResult r = top_hessian_eigenvalues(q, gen, opt);
  REQUIRE(r.values.size() == 3);
  for (int k = 0; k < 3; ++k) {
    CHECK(r.values[k] == doctest::Approx(kSpectrum[k]).epsilon(1e-8));
    CHECK(r.converged[k]);
    const Vec v = r.vectors[k].to_vector<double>();
    double cos = 0;
    for (size_t i = 0; i < v.size(); ++i) cos += v[i] * q.q()[i][k];
    CHECK(std::abs(cos) == doctest::Approx(1.0).epsilon(1e-6));
  }
  CHECK(q.params().to_vector<double>() == w_before);  // w restored bit for bit
}

TEST_CASE("probe: Hutchinson is exact for a diagonal Hessian and its error shrinks like 1/sqrt(vectors)") {
  const double trace = std::accumulate(kSpectrum.begin(), kSpectrum.end(), 0.0);
  {
    QuadraticLoss diagonal(kSpectrum, false, 5);
    Generator gen(1);
    const TraceResult r = hutchinson_trace(diagonal, gen, 3);
    CHECK(r.mean == doctest::Approx(trace).epsilon(1e-9));  // z^T D z = tr D for every +-1 vector
    CHECK(r.standard_error < 1e-8);
  }
  QuadraticLoss q(kSpectrum, true, 7);
  // Rademacher variance: 2 (|A|_F^2 - sum_i A_ii^2).
  double variance = 0;
  for (size_t i = 0; i < kSpectrum.size(); ++i)
    for (size_t j = 0; j < kSpectrum.size(); ++j)
      if (i != j) variance += 2 * q.a()[i][j] * q.a()[i][j];
  Generator gen(9);
  auto rms_error = [&](int64_t vectors, double* mean_se) {
    double sq = 0, se = 0;
    const int repeats = 60;
    for (int rep = 0; rep < repeats; ++rep) {
      const TraceResult r = hutchinson_trace(q, gen, vectors);
      sq += (r.mean - trace) * (r.mean - trace);
      se += r.standard_error;
    }
    *mean_se = se / repeats;
    return std::sqrt(sq / repeats);
  };
  double se4 = 0, se64 = 0;
  const double e4 = rms_error(4, &se4), e64 = rms_error(64, &se64);
  CHECK(e4 == doctest::Approx(std::sqrt(variance / 4)).epsilon(0.3));
  CHECK(e64 == doctest::Approx(std::sqrt(variance / 64)).epsilon(0.3));
  CHECK(e4 / e64 > 2.5);  // 4 expected
  CHECK(se64 == doctest::Approx(std::sqrt(variance / 64)).epsilon(0.2));
}

TEST_CASE("probe: SAM sharpness, one step is SAM's perturbation, many reach the exact max over the ball") {
  const Vec spectrum = {4.0, 2.0, 1.0, 0.5, 0.2};  // convex: each step raises the loss
  QuadraticLoss q(spectrum, false, 21);
  const Vec w = q.params().to_vector<double>();
  const double rho = 0.3;
  Generator gen(0);
  // One step by hand: e = rho g / |g|.
  const Vec g = q.a_times(q.diff(w));
  const double gn = std::sqrt(std::inner_product(g.begin(), g.end(), g.begin(), 0.0));
  Vec w_plus(w);
  for (size_t i = 0; i < w.size(); ++i) w_plus[i] += rho * g[i] / gn;
  const SharpnessResult one = sam_sharpness(q, rho, 1, gen);
  CHECK(one.loss == doctest::Approx(q.value(w)).epsilon(1e-12));
  CHECK(one.sharpness == doctest::Approx(q.value(w_plus) - q.value(w)).epsilon(1e-10));

  const SharpnessResult many = sam_sharpness(q, rho, 300, gen);
  const double exact = exact_ball_max(spectrum, q.diff(w), rho) - q.value(w);
  CHECK(many.sharpness == doctest::Approx(exact).epsilon(1e-7));
  CHECK(many.sharpness <= exact + 1e-12);  // a lower bound of the max
  CHECK(many.sharpness > one.sharpness);
  for (size_t t = 1; t < many.step_losses.size(); ++t) CHECK(many.step_losses[t] >= many.step_losses[t - 1] - 1e-12);
  CHECK(q.params().to_vector<double>() == w);

  CHECK_THROWS_WITH_AS(sam_sharpness(q, 0.0, 3, gen), doctest::Contains("rho must be > 0"), Error);
  CHECK_THROWS_WITH_AS(sam_sharpness(q, -1.0, 3, gen), doctest::Contains("rho must be > 0"), Error);
  CHECK_THROWS_WITH_AS(sam_sharpness(q, 0.1, 0, gen), doctest::Contains("ascent steps must be >= 1"), Error);
}

TEST_CASE("probe: lines and surfaces evaluate the loss at the stated points and restore w") {
  QuadraticLoss q(kSpectrum, true, 4);
  const Vec w = q.params().to_vector<double>();
  Generator gen(2);
  const Tensor d1 = randn({8}, gen, DType::F64), d2 = randn({8}, gen, DType::F64);
  const Vec a = d1.to_vector<double>(), b = d2.to_vector<double>();
  const std::vector<double> alphas = linspace(-1, 1, 5), betas = linspace(-0.5, 0.5, 3);
  CHECK(alphas == std::vector<double>{-1, -0.5, 0, 0.5, 1});
  const std::vector<LossValue> surface = loss_surface(q, d1, d2, alphas, betas);
  REQUIRE(surface.size() == 15);
  for (size_t j = 0; j < betas.size(); ++j)
    for (size_t i = 0; i < alphas.size(); ++i) {
      Vec p(w);
      for (size_t k = 0; k < p.size(); ++k) p[k] += alphas[i] * a[k] + betas[j] * b[k];
      CHECK(surface[j * alphas.size() + i].loss == doctest::Approx(q.value(p)).epsilon(1e-12));
    }
  // The line to a target: alpha 0 is w, alpha 1 is the target.
  const std::vector<LossValue> line = loss_on_line(q, d1, {0.0, 0.25, 1.0});
  Vec quarter(w);
  for (size_t k = 0; k < w.size(); ++k) quarter[k] = w[k] + 0.25 * (a[k] - w[k]);
  CHECK(line[0].loss == doctest::Approx(q.value(w)).epsilon(1e-12));
  CHECK(line[1].loss == doctest::Approx(q.value(quarter)).epsilon(1e-12));
  CHECK(line[2].loss == doctest::Approx(q.value(a)).epsilon(1e-12));
  CHECK(q.params().to_vector<double>() == w);
  CHECK_THROWS_WITH_AS(loss_along(q, d1, {}), doctest::Contains("grid of size 0"), Error);
  CHECK_THROWS_WITH_AS(loss_along(q, randn({7}, gen, DType::F64), alphas),
                       doctest::Contains("does not have the parameters' layout"), Error);
}

TEST_CASE("probe: filter normalisation gives every filter its weights' norm and zeroes 1-D parameters") {
  std::vector<Segment> segs(3);
  segs[0].shape = {4, 3};
  segs[0].numel = 12;
  segs[1].shape = {4};
  segs[1].offset = 12;
  segs[1].numel = 4;
  segs[2].shape = {2, 2, 3, 3};
  segs[2].offset = 16;
  segs[2].numel = 36;
  Generator gen(8);
  const Tensor w = randn({52}, gen, DType::F64);
  const Vec wv = w.to_vector<double>(), d = filter_normalized_direction(segs, w, gen).to_vector<double>();
  auto row_norm = [](const Vec& v, int64_t from, int64_t n) {
    double s = 0;
    for (int64_t i = from; i < from + n; ++i) s += v[i] * v[i];
    return std::sqrt(s);
  };
  for (int64_t r = 0; r < 4; ++r) CHECK(row_norm(d, 3 * r, 3) == doctest::Approx(row_norm(wv, 3 * r, 3)).epsilon(1e-12));
  for (int64_t i = 12; i < 16; ++i) CHECK(d[i] == 0.0);
  for (int64_t r = 0; r < 2; ++r)
    CHECK(row_norm(d, 16 + 18 * r, 18) == doctest::Approx(row_norm(wv, 16 + 18 * r, 18)).epsilon(1e-12));
  // Not just w itself: a random direction with the same per-filter norms.
  double cos = 0;
  for (int64_t i = 0; i < 12; ++i) cos += d[i] * wv[i];
  CHECK(std::abs(cos / (row_norm(d, 0, 12) * row_norm(wv, 0, 12))) < 0.99);
}

namespace {

// Linear(3, 5) -> ReLU -> Linear(5, 3), f64: small enough for a full Hessian.
std::shared_ptr<nn::Sequential> make_mlp(uint64_t seed) {
  Generator gen(seed);
  NoGrad no_grad;
  auto m = std::make_shared<nn::Sequential>();
  m->add(std::make_shared<nn::Linear>(3, 5, true, gen));
  m->add(std::make_shared<nn::ReLU>());
  m->add(std::make_shared<nn::Linear>(5, 3, true, gen));
  m->to(DType::F64);
  return m;
}

}  // namespace

TEST_CASE("probe: a tiny MLP's eigenvalues, trace and H v match its Hessian from second differences of L") {
  auto model = make_mlp(5);
  FlatParams flat = bind(*model, Device::cpu());
  Generator gen(17);
  const Tensor x = randn({10, 3}, gen, DType::F64);
  const Tensor y = from_vector<int64_t>({0, 1, 2, 2, 1, 0, 1, 2, 0, 1}, {10});
  ModelLoss loss(*model, flat, x, y, 4);  // batches of 4, 4, 2: the mean must still be over all 10
  Tensor& w = loss.params();
  const Vec w0 = w.to_vector<double>();
  const int n = static_cast<int>(w0.size());
  auto value_at = [&](const Vec& p) {
    w.copy_(from_vector<double>(p, {n}));
    return loss.evaluate().loss;
  };
  // Plain forward in one batch for the loss itself.
  {
    NoGrad no_grad;
    CHECK(loss.evaluate().loss == doctest::Approx(cross_entropy(model->forward(x), y).item()).epsilon(1e-13));
  }
  const double h = 1e-4;
  Matrix hess(n, Vec(n));
  for (int i = 0; i < n; ++i)
    for (int j = i; j < n; ++j) {
      auto shifted = [&](double si, double sj) {
        Vec p(w0);
        p[i] += si * h;
        p[j] += sj * h;
        return value_at(p);
      };
      hess[i][j] = hess[j][i] =
          (shifted(1, 1) - shifted(1, -1) - shifted(-1, 1) + shifted(-1, -1)) / (4 * h * h);
    }
  w.copy_(from_vector<double>(w0, {n}));
  const Vec exact = by_magnitude(jacobi_eigenvalues(hess));
  double trace = 0;
  for (int i = 0; i < n; ++i) trace += hess[i][i];
  REQUIRE(std::abs(exact[0]) > 1e-3);

  HessianOptions fd;
  fd.step = 1e-5;
  const Tensor v = randn({n}, gen, DType::F64);
  const Vec hv = hessian_vector_product(loss, v, fd).to_vector<double>(), vv = v.to_vector<double>();
  Vec hv_ref(n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) hv_ref[i] += hess[i][j] * vv[j];
  // The second differences carry ~1e-8 of rounding per entry: compare on the vector's scale.
  double largest = 0;
  for (double r : hv_ref) largest = std::max(largest, std::abs(r));
  for (int i = 0; i < n; ++i) CHECK(hv[i] == doctest::Approx(hv_ref[i]).epsilon(1e-5).scale(largest));

  EigenOptions eo;
  eo.count = 2;
  eo.iterations = 3000;
  eo.tolerance = 1e-12;
  eo.hessian = fd;
  const EigenResult eig = top_hessian_eigenvalues(loss, gen, eo);
  CHECK(eig.values[0] == doctest::Approx(exact[0]).epsilon(1e-5));
  CHECK(eig.values[1] == doctest::Approx(exact[1]).epsilon(1e-4));

  const TraceResult tr = hutchinson_trace(loss, gen, 400, fd);
  CHECK(std::abs(tr.mean - trace) < 4 * tr.standard_error);
  CHECK(tr.standard_error < 0.2 * std::abs(trace) + 1e-3);
  CHECK(w.to_vector<double>() == w0);
}

TEST_CASE("probe: BatchNorm eval mode uses the running statistics, and no mode moves them") {
  auto model = optim_test::make_tiny_model(3);
  FlatParams flat = bind(*model, Device::cpu());
  Generator gen(6);
  auto* bn = dynamic_cast<nn::BatchNorm2d*>(&(*model)[1]);
  REQUIRE(bn != nullptr);
  bn->running_mean.copy_(mul(randn({3}, gen, DType::F64), 0.2));
  bn->running_var.copy_(add(rand({3}, gen, DType::F64), 0.5));
  const Vec mean_before = optim_test::to_vec(bn->running_mean), var_before = optim_test::to_vec(bn->running_var);
  const Tensor x = optim_test::random_images(8, gen), y = optim_test::random_labels(8, gen);
  Tensor g = flat.new_state_buffer();
  double eval_reference = 0, train_reference = 0;
  {
    NoGrad no_grad;
    nn::FreezeBatchNormStats freeze;
    model->eval();
    eval_reference = cross_entropy(model->forward(x), y).item();
    model->train();
    train_reference = cross_entropy(model->forward(x), y).item();
  }
  ModelLoss eval_loss(*model, flat, x, y, 8, BatchNormMode::Eval);
  ModelLoss train_loss(*model, flat, x, y, 8, BatchNormMode::Train);
  CHECK(eval_loss.evaluate().loss == doctest::Approx(eval_reference).epsilon(1e-13));
  CHECK(eval_loss.gradient(g) == doctest::Approx(eval_reference).epsilon(1e-13));
  CHECK(train_loss.evaluate().loss == doctest::Approx(train_reference).epsilon(1e-13));
  CHECK(train_loss.gradient(g) == doctest::Approx(train_reference).epsilon(1e-13));
  CHECK(std::abs(eval_reference - train_reference) > 1e-6);
  CHECK(optim_test::to_vec(bn->running_mean) == mean_before);
  CHECK(optim_test::to_vec(bn->running_var) == var_before);
  CHECK(model->is_training());  // the mode the model had
  CHECK(parse_batch_norm_mode("train") == BatchNormMode::Train);
  CHECK_THROWS_WITH_AS(parse_batch_norm_mode("frozen"), doctest::Contains("'eval' (running statistics)"), Error);
}

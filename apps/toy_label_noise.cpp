// The label-noise two-phase toy; see toy.h. The optimizer classes of optim/
// compute a cross-entropy loss inside their step, so the squared-loss steps
// here call the same arena kernels they do (Backend::sam_perturb builds SAM's
// e = rho g / |g| and applies w += e; Backend::sgd_step undoes e and steps).
#include <algorithm>
#include <cmath>
#include <memory>

#include "apps/toy.h"
#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/layers.h"
#include "optim/flat_params.h"

namespace basin::apps {
namespace {

void validate(const LabelNoiseToyConfig& c) {
  BASIN_CHECK(c.optimizer == "sgd" || c.optimizer == "sam", "toy label-noise: --optimizer must be sgd or sam, got '",
              c.optimizer, "'");
  BASIN_CHECK(c.dim > 0 && c.width > 0 && c.samples > 0, "toy label-noise: --dim, --width and --samples must be > 0, got ",
              c.dim, ", ", c.width, ", ", c.samples);
  BASIN_CHECK(c.batch_size > 0 && c.batch_size <= c.samples, "toy label-noise: --batch-size must be in [1, ",
              c.samples, "], got ", c.batch_size);
  BASIN_CHECK(c.sigma >= 0 && std::isfinite(c.sigma), "toy label-noise: --sigma must be >= 0, got ", c.sigma);
  BASIN_CHECK(c.lr > 0 && std::isfinite(c.lr), "toy label-noise: --lr must be > 0, got ", c.lr);
  BASIN_CHECK(c.optimizer != "sam" || (c.rho > 0 && std::isfinite(c.rho)), "toy label-noise: --rho must be > 0, got ",
              c.rho);
  BASIN_CHECK(c.init_scale > 0, "toy label-noise: --init-scale must be > 0, got ", c.init_scale);
  BASIN_CHECK(c.steps >= 0, "toy label-noise: --steps must be >= 0, got ", c.steps);
  BASIN_CHECK(c.log_every > 0, "toy label-noise: --log-every must be > 0, got ", c.log_every);
}

// Host-side measurements of the network a^T W x at the current weights.
LabelNoiseToyPoint measure(int64_t step, const std::vector<float>& w, const std::vector<float>& a,
                           const std::vector<float>& x, const std::vector<float>& y, const std::vector<double>& beta,
                           int64_t d, int64_t m) {
  LabelNoiseToyPoint p;
  p.step = step;
  std::vector<double> theta(static_cast<size_t>(d), 0.0);  // W^T a: the linear map the network computes
  double w_sq = 0, neuron_sum = 0, along_beta_sq = 0;
  for (int64_t j = 0; j < m; ++j) {
    double row_sq = 0, along_beta = 0;
    for (int64_t k = 0; k < d; ++k) {
      const double v = w[j * d + k];
      row_sq += v * v;
      along_beta += v * beta[k];
      theta[k] += a[j] * v;
    }
    w_sq += row_sq;
    along_beta_sq += along_beta * along_beta;
    neuron_sum += std::sqrt(row_sq + static_cast<double>(a[j]) * a[j]);
  }
  p.weight_norm = std::sqrt(w_sq);
  p.neuron_norm = neuron_sum / static_cast<double>(m);
  p.neuron_alignment = w_sq > 0 ? along_beta_sq / w_sq : 0.0;  // beta has unit norm
  double dot = 0, theta_sq = 0, beta_sq = 0;
  for (int64_t k = 0; k < d; ++k) {
    dot += theta[k] * beta[k];
    theta_sq += theta[k] * theta[k];
    beta_sq += beta[k] * beta[k];
  }
  p.alignment = theta_sq > 0 ? dot / std::sqrt(theta_sq * beta_sq) : 0.0;
  const int64_t n = static_cast<int64_t>(y.size());
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    double f = 0;
    for (int64_t k = 0; k < d; ++k) f += theta[k] * x[i * d + k];
    loss += 0.5 * (f - y[i]) * (f - y[i]);
  }
  p.loss = loss / static_cast<double>(n);
  return p;
}

// The first point where `values` has gone half its way from values[0] to its
// extreme (min when falling, max when rising); -1 when it never moves that way.
int64_t half_way_step(const std::vector<LabelNoiseToyPoint>& points, const std::vector<double>& values, bool falling) {
  if (values.empty()) return -1;
  const double start = values[0];
  const double extreme = falling ? *std::min_element(values.begin(), values.end())
                                 : *std::max_element(values.begin(), values.end());
  if (extreme == start) return -1;
  const double target = 0.5 * (start + extreme);
  for (size_t i = 0; i < values.size(); ++i)
    if (falling ? values[i] <= target : values[i] >= target) return points[i].step;
  return -1;
}

}  // namespace

LabelNoiseToyResult run_label_noise_toy(const LabelNoiseToyConfig& c,
                                        const std::function<void(const LabelNoiseToyPoint&)>& on_point) {
  validate(c);
  const Device device = Device::parse(c.device);
  BASIN_CHECK(has_backend(device.type), "toy label-noise: device '", c.device, "' is not available in this build");
  const int64_t d = c.dim, m = c.width, n = c.samples, b = c.batch_size;
  Generator gen(c.seed);

  // Fixed inputs, a unit-norm true map beta, clean targets y = x beta.
  const Tensor x = randn({n, d}, gen);
  std::vector<double> beta(static_cast<size_t>(d));
  {
    const std::vector<float> raw = randn({d}, gen).to_vector<float>();
    double sq = 0;
    for (float v : raw) sq += static_cast<double>(v) * v;
    for (int64_t k = 0; k < d; ++k) beta[k] = raw[k] / std::sqrt(sq);
  }
  std::vector<float> beta_f(beta.begin(), beta.end());
  const Tensor y = matmul(x, from_vector<float>(beta_f, {d, 1}));  // [n, 1]
  const std::vector<float> x_host = x.to_vector<float>(), y_host = y.to_vector<float>();

  nn::Sequential net;
  auto hidden = std::make_shared<nn::Linear>(d, m, /*bias=*/false, gen);
  auto readout = std::make_shared<nn::Linear>(m, 1, /*bias=*/false, gen);
  net.add(hidden).add(readout);
  {
    NoGrad no_grad;  // a large start: the lazy regime phase I leaves
    hidden->weight.copy_(mul(randn({m, d}, gen), c.init_scale / std::sqrt(static_cast<double>(d))));
    readout->weight.copy_(mul(randn({1, m}, gen), c.init_scale / std::sqrt(static_cast<double>(m))));
  }
  optim::FlatParams flat = optim::bind(net, device);
  const Tensor x_dev = x.to(device), y_dev = y.to(device);
  Tensor w = flat.params();
  Tensor e = flat.new_state_buffer(), g2 = flat.new_state_buffer(), no_momentum;
  Backend& backend = backend_of(w);
  SgdStepParams base;
  base.lr = c.lr;
  const bool sam = c.optimizer == "sam";

  LabelNoiseToyResult result;
  auto record = [&](int64_t step) {
    const std::vector<float> wv = flat.segment_view(w, 0).contiguous().to_vector<float>();
    const std::vector<float> av = flat.segment_view(w, 1).contiguous().to_vector<float>();
    result.points.push_back(measure(step, wv, av, x_host, y_host, beta, d, m));
    if (on_point) on_point(result.points.back());
  };
  std::vector<int64_t> rows(static_cast<size_t>(b));
  for (int64_t step = 0;; ++step) {
    if (step % c.log_every == 0 || step == c.steps) record(step);
    if (step == c.steps) break;
    for (int64_t& r : rows) r = gen.randint(n);
    const Tensor idx = from_vector<int64_t>(rows, {b}).to(device);
    const Tensor xb = index_select(x_dev, idx);
    // Fresh label noise every step: the same rows get new noise next time.
    const Tensor yb = add(index_select(y_dev, idx), mul(randn({b, 1}, gen, DType::F32, device), c.sigma));
    auto backward_loss = [&] { mul(mean(square(sub(net.forward(xb), yb))), 0.5).backward(); };
    flat.zero_grad();
    backward_loss();
    const Tensor& g = flat.grads();
    const double g_norm = sam ? std::sqrt(dot_value(g, g)) : 0.0;
    if (sam && g_norm > 0) {
      AscentParams ascent;
      ascent.rho = c.rho;
      ascent.eps = 0.0;  // e = rho g / |g|: the toy skips |g| = 0 instead
      backend.sam_perturb(w, e, g, dot(g, g), Tensor(), ascent);  // w += e
      flat.route_grads(g2);
      {
        NoGrad no_grad;
        g2.zero_();
      }
      backward_loss();  // the gradient at w + e
      flat.route_grads(flat.grads());
      backend.sgd_step(w, g2, no_momentum, Tensor(), e, base);  // w -= e; w -= lr g2
    } else {
      backend.sgd_step(w, g, no_momentum, Tensor(), Tensor(), base);
    }
  }
  std::vector<double> norms, aligned, neurons_aligned;
  // Trailing mean over about 5% of the run (at least 5 points): the alignment
  // is noisy from one logged point to the next.
  const size_t window = std::max<size_t>(5, result.points.size() / 20);
  for (size_t i = 0; i < result.points.size(); ++i) {
    norms.push_back(result.points[i].weight_norm);
    neurons_aligned.push_back(result.points[i].neuron_alignment);
    const size_t from = i + 1 >= window ? i + 1 - window : 0;
    double s = 0;
    for (size_t k = from; k <= i; ++k) s += result.points[k].alignment;
    aligned.push_back(s / static_cast<double>(i - from + 1));
  }
  result.norm_half_step = half_way_step(result.points, norms, /*falling=*/true);
  result.alignment_half_step = half_way_step(result.points, aligned, /*falling=*/false);
  result.neuron_alignment_half_step = half_way_step(result.points, neurons_aligned, /*falling=*/false);
  return result;
}

}  // namespace basin::apps

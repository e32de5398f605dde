// `basin probe CHECKPOINT`: the minimum a run ended in, measured on a fixed
// random subset of N samples: loss and accuracy, the top Hessian eigenvalues,
// Hutchinson's trace, SAM sharpness, the loss on the line to a second
// checkpoint, and 1D / 2D surfaces along filter-normalised random directions.
// The measures are optim/hessian.h, optim/sharpness.h and optim/landscape.h;
// this file picks the samples, runs them, and writes one JSON object.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>

#include "apps/checkpoint_model.h"
#include "apps/commands.h"
#include "apps/dataset_spec.h"
#include "apps/evaluation.h"
#include "apps/flags.h"
#include "apps/json_writer.h"
#include "apps/probe_figures.h"
#include "apps/progress.h"
#include "apps/trainer.h"
#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "data/augment.h"
#include "data/file_io.h"
#include "optim/hessian.h"
#include "optim/landscape.h"
#include "optim/sharpness.h"

namespace basin::apps {
namespace {

// The first n of a seeded random permutation of [0, pool), in increasing order.
std::vector<int64_t> choose_subset(int64_t pool, int64_t n, uint64_t seed) {
  std::vector<int64_t> all(static_cast<size_t>(pool));
  std::iota(all.begin(), all.end(), int64_t{0});
  Generator gen(seed);
  for (int64_t i = 0; i < n; ++i) std::swap(all[i], all[i + gen.randint(pool - i)]);
  all.resize(static_cast<size_t>(n));
  std::sort(all.begin(), all.end());
  return all;
}

std::string bool_array(const std::vector<bool>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + std::string(values[i] ? "true" : "false");
  return s + "]";
}

std::vector<double> losses_of(const std::vector<optim::LossValue>& points) {
  std::vector<double> loss;
  for (const optim::LossValue& p : points) loss.push_back(p.loss);
  return loss;
}

// {"loss": [...], "accuracy": [...]} fields of a set of points.
void add_points(JsonObject& obj, const std::vector<optim::LossValue>& points) {
  std::vector<double> accuracy;
  for (const optim::LossValue& p : points) accuracy.push_back(p.accuracy);
  obj.add("loss", losses_of(points)).add("accuracy", accuracy);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// BatchNorm running statistics (the model's float buffers) set to (1-a) A + a B.
void interpolate_buffers(nn::Module& model, const std::vector<Tensor>& from, const std::vector<Tensor>& to,
                         double a) {
  NoGrad no_grad;
  size_t k = 0;
  for (auto& [name, slot] : model.named_buffers()) {
    if (!is_floating(slot->dtype())) continue;
    slot->copy_(add(mul(from[k], 1.0 - a), mul(to[k], a)));
    ++k;
  }
}

std::vector<Tensor> float_buffers(nn::Module& model) {
  NoGrad no_grad;
  std::vector<Tensor> out;
  for (auto& [name, slot] : model.named_buffers())
    if (is_floating(slot->dtype())) out.push_back(slot->clone());
  return out;
}

void declare_probe_flags(Flags& f) {
  f.add("checkpoint", "", "checkpoint file or run directory (or give it as the first argument)");
  f.add("dataset", "", std::string("dataset: ") + dataset_spec_forms() + " (default: the run's)");
  f.add("split", "train", "train | test");
  f.add("labels", "", "noisy | clean: the labels the loss uses (default: noisy on train, clean on test; noisy are "
                      "the run's own, saved in the checkpoint)");
  f.add("samples", "1000", "size of the fixed random subset probed (0: the whole split)");
  f.add("seed", "0", "seed of the subset, the random directions and the probe vectors");
  f.add("bn", "eval", "BatchNorm: eval (running statistics) | train (each batch's statistics; never updated)");
  f.add("batch-size", "256", "samples per forward pass (the loss is the mean over all of them)");
  f.add("device", "cpu", "cpu | cuda | cuda:N");
  f.add("threads", "0", "OpenMP threads on the CPU (0: OMP_NUM_THREADS, else all cores)");
  f.add("out", "probe.json", "the JSON result file; figures go beside it as <stem>-line.svg, -surface-1d.svg, -surface-2d.svg");
  f.add_bool("quiet", "no progress line");
  declare_dataset_flags(f);
  f.section("Hessian (products by central differences of gradients: 2 gradient passes each)");
  f.add("eigenvalues", "1", "how many top Hessian eigenvalues (power iteration with deflation; 0: skip)");
  f.add("power-iterations", "20", "power iterations per eigenvalue, at most");
  f.add("power-tolerance", "1e-3", "stop when the eigenvalue changes by less than this fraction");
  f.add("trace-vectors", "10", "Rademacher vectors of Hutchinson's trace estimate (0: skip)");
  f.add("hvp-step", "1e-3", "length of the displacement h*v of the finite differences");
  f.section("SAM sharpness: max over |e| <= rho of L(w + e) - L(w)");
  f.add("rho", "0.05", "radius of the ball (> 0)");
  f.add("sam-steps", "5", "normalised ascent steps (1: SAM's own perturbation; 0: skip)");
  f.section("Landscapes (w + a d1 + b d2, directions normalised filter by filter)");
  f.add("to", "", "second checkpoint of the same model: the loss on the line w + a (w2 - w)");
  f.add("line-points", "25", "points on that line");
  f.add("line-range", "-0.5,1.5", "first and last a of the line (0: this checkpoint, 1: --to)");
  f.add("points-1d", "21", "points of the 1D surface (0: skip)");
  f.add("points-2d", "0", "grid side of the 2D surface (0: skip; costs side^2 evaluations)");
  f.add("span", "1", "the surfaces cover a, b in [-span, span]");
}

// A progress callback for one measure: "<what> done/total".
optim::ProbeTick ticker(Progress& progress, const std::string& what) {
  return [&progress, what](int64_t done, int64_t total) {
    progress.status(cat(what, " ", done, "/", total), done == total);
  };
}

int64_t checked_count(const Flags& f, const std::string& name, int64_t minimum_when_on) {
  const int64_t v = f.i64(name);
  BASIN_CHECK(v == 0 || v >= minimum_when_on, "flag --", name, ": must be 0 (skip) or >= ", minimum_when_on,
              ", got ", v);
  return v;
}

}  // namespace

int probe_main(int argc, char** argv) {
  // A first argument that is not a flag is the checkpoint.
  std::vector<char*> args(argv, argv + argc);
  std::string positional;
  if (argc > 1 && std::string(argv[1]).rfind("-", 0) != 0) {
    positional = argv[1];
    args.erase(args.begin() + 1);
  }
  Flags f("probe", "Curvature, sharpness and loss landscape of a checkpoint's minimum on a fixed subset of samples.");
  declare_probe_flags(f);
  if (!f.parse(static_cast<int>(args.size()), args.data())) return 0;
  BASIN_CHECK(positional.empty() || !f.given("checkpoint"), "give the checkpoint once: '", positional,
              "' and --checkpoint ", f.str("checkpoint"));
  const std::string ck_arg = positional.empty() ? f.str("checkpoint") : positional;
  BASIN_CHECK(!ck_arg.empty(), "no checkpoint given (basin probe CHECKPOINT ...; see basin probe --help)");
  const std::string split = f.str("split");
  BASIN_CHECK(split == "train" || split == "test", "flag --split: expected train or test, got '", split, "'");
  const std::string labels_kind = f.str("labels").empty() ? (split == "train" ? "noisy" : "clean") : f.str("labels");
  BASIN_CHECK(labels_kind == "noisy" || labels_kind == "clean", "flag --labels: expected noisy or clean, got '",
              labels_kind, "'");
  BASIN_CHECK(labels_kind == "clean" || split == "train", "flag --labels noisy: only the training split has noisy "
              "labels (the test split is clean); use --labels clean with --split test");
  const int64_t samples_flag = f.i64("samples");
  BASIN_CHECK(samples_flag >= 0, "flag --samples: must be >= 0, got ", samples_flag);
  const int64_t batch_size = f.i64("batch-size");
  BASIN_CHECK(batch_size > 0, "flag --batch-size: must be > 0, got ", batch_size);
  const int64_t threads = f.i64("threads");
  BASIN_CHECK(threads >= 0, "flag --threads: must be >= 0, got ", threads);
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
  const optim::BatchNormMode bn = optim::parse_batch_norm_mode(f.str("bn"));
  const int64_t eigen_count = checked_count(f, "eigenvalues", 1);
  const int64_t trace_vectors = checked_count(f, "trace-vectors", 1);
  const int64_t sam_steps = checked_count(f, "sam-steps", 1);
  const int64_t points_1d = checked_count(f, "points-1d", 2);
  const int64_t points_2d = checked_count(f, "points-2d", 2);
  const int64_t line_points = f.i64("line-points");
  BASIN_CHECK(line_points >= 2, "flag --line-points: must be >= 2, got ", line_points);
  const double rho = f.f64("rho"), span = f.f64("span"), hvp_step = f.f64("hvp-step");
  BASIN_CHECK(rho > 0, "flag --rho: must be > 0, got ", rho);
  BASIN_CHECK(span > 0, "flag --span: must be > 0, got ", span);
  BASIN_CHECK(hvp_step > 0, "flag --hvp-step: must be > 0, got ", hvp_step);
  const std::vector<double> line_range = split_doubles(f.str("line-range"), "flag --line-range");
  BASIN_CHECK(line_range.size() == 2 && line_range[0] < line_range[1],
              "flag --line-range: expected two increasing numbers 'first,last', got '", f.str("line-range"), "'");
  const Device device = Device::parse(f.str("device"));
  BASIN_CHECK(has_backend(device.type), "device '", f.str("device"), "' is not available in this build");
  const uint64_t seed = static_cast<uint64_t>(f.i64("seed"));
  Progress progress(f.on("quiet"));

  // --- the model, the second checkpoint, the samples ---
  const Checkpoint ck = load_checkpoint(checkpoint_path(ck_arg));
  auto model = model_from_checkpoint(ck);
  Checkpoint ck_to;
  if (!f.str("to").empty()) {
    ck_to = load_checkpoint(checkpoint_path(f.str("to")));
    std::string why;
    BASIN_CHECK(same_architecture(ck, ck_to, &why), "flag --to: not the same model: ", why);
  }
  const CheckpointData data = load_checkpoint_dataset(ck, f, split, 0);
  Tensor all_labels = data.dataset.labels;
  if (labels_kind == "noisy") {
    all_labels = ck.tensor("trainer.noisy_labels");
    BASIN_CHECK(all_labels.dim() == 1 && all_labels.numel() <= data.dataset.size(), "checkpoint '", ck.path,
                "': its ", all_labels.numel(), " noisy labels do not fit the ", data.dataset.size(),
                " training samples of '", data.spec, "'");
  }
  const int64_t pool = all_labels.numel();  // a run with --train-limit saved labels for its first samples only
  const int64_t n = samples_flag == 0 ? pool : samples_flag;
  BASIN_CHECK(n <= pool, "flag --samples: ", n, " asked, but the ", split, " split has ", pool, " samples",
              labels_kind == "noisy" ? " with noisy labels" : "");
  const std::vector<int64_t> indices = choose_subset(pool, n, derive_seed(seed, 1));
  const data::Dataset subset = data.dataset.subset(indices);
  std::vector<int64_t> label_values(static_cast<size_t>(n));
  {
    const std::vector<int64_t> all = all_labels.to_vector<int64_t>();
    for (int64_t i = 0; i < n; ++i) label_values[i] = all[indices[i]];
  }
  const Tensor inputs = data::normalize(subset.images.to(device), normalization_spec(data.mean, data.std));
  const Tensor labels = from_vector<int64_t>(label_values, {n}).to(device);
  model->to(device);
  optim::FlatParams flat = optim::bind(*model, device);
  optim::ModelLoss loss(*model, flat, inputs, labels, batch_size, bn);
  progress.line(cat("probe: ", ck.meta("model"), " (", flat.numel(), " parameters) on ", n, " ", split,
                    " samples of ", data.spec, ", ", labels_kind, " labels, BatchNorm ", f.str("bn"), ", ",
                    device.str()));

  JsonObject out;
  out.add("type", "probe").add("checkpoint", ck.path).add("model", ck.meta("model")).add("parameters", flat.numel())
      .add("dataset", data.spec).add("split", split).add("labels", labels_kind).add("samples", n)
      .add("seed", f.i64("seed")).add("bn", f.str("bn")).add("device", device.str());
  auto timed = [](auto&& body) {
    const auto t = std::chrono::steady_clock::now();
    body();
    return seconds_since(t);
  };
  const auto t_start = std::chrono::steady_clock::now();
  std::vector<std::string> figures;  // SVG files written beside --out
  const optim::LossValue at_w = loss.evaluate();
  out.add("loss", at_w.loss).add("accuracy", at_w.accuracy);
  progress.line(cat("loss ", at_w.loss, ", accuracy ", at_w.accuracy));

  optim::HessianOptions hessian;
  hessian.step = hvp_step;
  if (eigen_count > 0) {
    Generator gen(derive_seed(seed, 2));
    optim::EigenOptions eo;
    eo.count = eigen_count;
    eo.iterations = f.i64("power-iterations");
    eo.tolerance = f.f64("power-tolerance");
    eo.hessian = hessian;
    optim::EigenResult r;
    const double s = timed([&] {
      r = optim::top_hessian_eigenvalues(loss, gen, eo, ticker(progress, "Hessian eigenvalues: products"));
    });
    JsonObject js;
    js.add("values", r.values).add("iterations", r.iterations).add_raw("converged", bool_array(r.converged))
        .add("tolerance", eo.tolerance).add("hvp_step", hvp_step).add("seconds", s);
    out.add_raw("eigenvalues", js.str());
    progress.line(cat("top Hessian eigenvalue ", r.values[0], " (", r.iterations[0], " iterations)"));
  }
  if (trace_vectors > 0) {
    Generator gen(derive_seed(seed, 3));
    optim::TraceResult r;
    const double s = timed([&] {
      r = optim::hutchinson_trace(loss, gen, trace_vectors, hessian, ticker(progress, "Hutchinson trace: vectors"));
    });
    JsonObject js;
    js.add("mean", r.mean).add("standard_error", r.standard_error).add("vectors", trace_vectors)
        .add("samples", r.samples).add("hvp_step", hvp_step).add("seconds", s);
    out.add_raw("trace", js.str());
    progress.line(cat("Hessian trace ", r.mean, " +- ", r.standard_error));
  }
  if (sam_steps > 0) {
    Generator gen(derive_seed(seed, 4));
    optim::SharpnessResult r;
    const double s = timed([&] {
      r = optim::sam_sharpness(loss, rho, sam_steps, gen, ticker(progress, "SAM sharpness: ascent steps"));
    });
    JsonObject js;
    js.add("rho", rho).add("steps", sam_steps).add("value", r.sharpness).add("loss", r.loss)
        .add("perturbed_loss", r.perturbed_loss).add("best_step", r.best_step).add("step_losses", r.step_losses)
        .add("seconds", s);
    out.add_raw("sharpness", js.str());
    progress.line(cat("SAM sharpness (rho ", rho, ", ", sam_steps, " steps) ", r.sharpness));
  }
  if (!ck_to.path.empty()) {
    auto model_to = model_from_checkpoint(ck_to);
    model_to->to(device);
    optim::FlatParams flat_to = optim::bind(*model_to, device);
    const std::vector<double> alphas = optim::linspace(line_range[0], line_range[1], line_points);
    // The running statistics move with the weights: eval-mode BatchNorm at
    // a uses (1-a) A + a B of both checkpoints' statistics.
    const std::vector<Tensor> buffers_from = float_buffers(*model), buffers_to = float_buffers(*model_to);
    std::vector<optim::LossValue> points;
    const optim::ProbeTick line_tick = ticker(progress, "line to --to: points");
    const double s = timed([&] {
      for (size_t i = 0; i < alphas.size(); ++i) {
        interpolate_buffers(*model, buffers_from, buffers_to, alphas[i]);
        points.push_back(optim::loss_on_line(loss, flat_to.params(), {alphas[i]})[0]);
        line_tick(static_cast<int64_t>(i + 1), line_points);
      }
      interpolate_buffers(*model, buffers_from, buffers_to, 0.0);
    });
    JsonObject js;
    js.add("to", ck_to.path).add("alphas", alphas);
    add_points(js, points);
    figures.push_back(write_svg_figure(
        f.str("out"), "line",
        svg::render_line_plot(curves("loss from " + ck.path + " (a = 0) to " + ck_to.path + " (a = 1)", "a",
                                     "loss", alphas, {{"loss", losses_of(points)}}))));
    js.add("seconds", s);
    out.add_raw("line", js.str());
  }
  if (points_1d > 0 || points_2d > 0) {
    Generator gen(derive_seed(seed, 5));
    const Tensor d1 = optim::filter_normalized_direction(flat.segments(), flat.params(), gen);
    if (points_1d > 0) {
      const std::vector<double> alphas = optim::linspace(-span, span, points_1d);
      std::vector<optim::LossValue> points;
      const double s = timed([&] {
        points = optim::loss_along(loss, d1, alphas, ticker(progress, "1D surface: points"));
      });
      JsonObject js;
      js.add("alphas", alphas);
      add_points(js, points);
      figures.push_back(write_svg_figure(
          f.str("out"), "surface-1d",
          svg::render_line_plot(curves("loss along a filter-normalised direction", "a", "loss", alphas,
                                       {{"loss", losses_of(points)}}))));
      js.add("seconds", s);
      out.add_raw("surface_1d", js.str());
    }
    if (points_2d > 0) {
      const Tensor d2 = optim::filter_normalized_direction(flat.segments(), flat.params(), gen);
      const std::vector<double> grid = optim::linspace(-span, span, points_2d);
      std::vector<optim::LossValue> points;
      const double s = timed([&] {
        points = optim::loss_surface(loss, d1, d2, grid, grid, ticker(progress, "2D surface: points"));
      });
      JsonObject js;
      js.add("alphas", grid).add("betas", grid).add("layout", "row-major, betas outer");
      add_points(js, points);
      figures.push_back(write_svg_figure(
          f.str("out"), "surface-2d",
          surface_heat_map("loss on a plane of filter-normalised directions", grid, grid, losses_of(points))));
      js.add("seconds", s);
      out.add_raw("surface_2d", js.str());
    }
  }
  out.add("seconds", seconds_since(t_start));
  for (const std::string& path : figures) progress.line(cat("figure ", path));
  const std::string text = out.str() + "\n";
  data::write_file_atomic(f.str("out"), std::vector<uint8_t>(text.begin(), text.end()));
  progress.line(cat("wrote ", f.str("out")));
  std::printf("%s", text.c_str());
  return 0;
}

}  // namespace basin::apps

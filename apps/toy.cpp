// `basin toy <name>`: small experiments that illustrate a paper's claim with
// basin's own pieces. Today one: `label-noise` (toy.h). Writes one JSON line
// per logged point and a summary line saying when each phase was half done.
#include <cstdio>
#include <fstream>

#include "apps/commands.h"
#include "apps/flags.h"
#include "apps/json_writer.h"
#include "apps/probe_figures.h"
#include "apps/progress.h"
#include "apps/toy.h"
#include "core/error.h"

namespace basin::apps {
namespace {

JsonObject point_json(const LabelNoiseToyPoint& p) {
  JsonObject js;
  js.add("type", "point").add("step", p.step).add("loss", p.loss).add("weight_norm", p.weight_norm)
      .add("neuron_norm", p.neuron_norm).add("alignment", p.alignment)
      .add("neuron_alignment", p.neuron_alignment);
  return js;
}

int label_noise_main(int argc, char** argv) {
  const LabelNoiseToyConfig d;
  Flags f("toy label-noise",
          "Label-noise SGD on f(x) = a^T W x with fresh label noise every step: norms shrink (phase I), then W^T a "
          "aligns with the true map (phase II).");
  f.add("optimizer", d.optimizer, "sgd | sam");
  f.add("dim", std::to_string(d.dim), "input dimension d");
  f.add("width", std::to_string(d.width), "hidden units m");
  f.add("samples", std::to_string(d.samples), "fixed Gaussian inputs n");
  f.add("batch-size", std::to_string(d.batch_size), "samples per step");
  f.add("sigma", "4", "std of the label noise drawn afresh every step");
  f.add("lr", "1e-3", "learning rate");
  f.add("rho", "0.05", "SAM radius (--optimizer sam)");
  f.add("init-scale", "1", "W ~ N(0, s^2/d), a ~ N(0, s^2/m)");
  f.add("steps", std::to_string(d.steps), "SGD steps");
  f.add("log-every", std::to_string(d.log_every), "a logged point every this many steps");
  f.add("seed", "0", "seed of the data, the initial weights, the batches and the noise");
  f.add("device", "cpu", "cpu | cuda | cuda:N");
  f.add("out", "toy-label-noise.jsonl", "JSON lines: one per point, then a summary; figures <stem>-norms.svg, <stem>-alignment.svg beside it");
  f.add_bool("quiet", "no progress line");
  if (!f.parse(argc, argv)) return 0;
  LabelNoiseToyConfig c;
  c.optimizer = f.str("optimizer");
  c.dim = f.i64("dim");
  c.width = f.i64("width");
  c.samples = f.i64("samples");
  c.batch_size = f.i64("batch-size");
  c.sigma = f.f64("sigma");
  c.lr = f.f64("lr");
  c.rho = f.f64("rho");
  c.init_scale = f.f64("init-scale");
  c.steps = f.i64("steps");
  c.log_every = f.i64("log-every");
  c.seed = static_cast<uint64_t>(f.i64("seed"));
  c.device = f.str("device");

  std::ofstream out(f.str("out"), std::ios::trunc);
  BASIN_CHECK(out.good(), "flag --out: cannot open '", f.str("out"), "' for writing");
  Progress progress(f.on("quiet"));
  const LabelNoiseToyResult r = run_label_noise_toy(c, [&](const LabelNoiseToyPoint& p) {
    out << point_json(p).str() << '\n';
    char detail[160];
    std::snprintf(detail, sizeof detail, "|W| %.3f  neuron %.4f  alignment %.3f / %.3f  loss %.4f",
                  p.weight_norm, p.neuron_norm, p.alignment, p.neuron_alignment, p.loss);
    progress.status(cat("step ", p.step, "/", c.steps, "  ", detail), p.step == c.steps);
  });
  JsonObject summary;
  summary.add("type", "summary").add("optimizer", c.optimizer).add("dim", c.dim).add("width", c.width)
      .add("samples", c.samples).add("batch_size", c.batch_size).add("sigma", c.sigma).add("lr", c.lr)
      .add("rho", c.rho).add("init_scale", c.init_scale).add("steps", c.steps).add("seed", f.i64("seed"))
      .add("norm_half_step", r.norm_half_step).add("alignment_half_step", r.alignment_half_step)
      .add("neuron_alignment_half_step", r.neuron_alignment_half_step);
  out << summary.str() << '\n';
  out.flush();
  BASIN_CHECK(out.good(), "writing '", f.str("out"), "' failed");
  std::vector<double> steps, weight_norm, neuron_norm, alignment, neuron_alignment;
  for (const LabelNoiseToyPoint& p : r.points) {
    steps.push_back(static_cast<double>(p.step));
    weight_norm.push_back(p.weight_norm / r.points.front().weight_norm);
    neuron_norm.push_back(p.neuron_norm / r.points.front().neuron_norm);
    alignment.push_back(p.alignment);
    neuron_alignment.push_back(p.neuron_alignment);
  }
  const std::string title = cat("label-noise ", c.optimizer, ", sigma ", c.sigma, ", lr ", c.lr);
  svg::LinePlot norms = curves(title + ": phase I", "step", "relative to step 0", steps,
                               {{"|W|_F", weight_norm}, {"mean neuron norm", neuron_norm}});
  svg::LinePlot aligned = curves(title + ": phase II", "step", "alignment", steps,
                                 {{"cos(W^T a, beta)", alignment}, {"|W beta|^2 / |W|_F^2", neuron_alignment}});
  progress.line(cat("figures ", write_svg_figure(f.str("out"), "norms", svg::render_line_plot(norms)), " ",
                    write_svg_figure(f.str("out"), "alignment", svg::render_line_plot(aligned))));
  std::printf("%s\n", summary.str().c_str());
  return 0;
}

}  // namespace

int toy_main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::printf("usage: basin toy <experiment> [flags]   (basin toy <experiment> --help)\n\nexperiments:\n"
                "  label-noise  two-layer linear net under label-noise SGD or SAM: the two phases\n");
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  if (name == "label-noise") return label_noise_main(argc - 1, argv + 1);
  fail(cat("unknown toy '", name, "' (basin toy --help lists them)"));
}

}  // namespace basin::apps

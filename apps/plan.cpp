// `basin plan`: bytes a training step needs, by category, and the largest
// batch that fits in a board's memory. See apps/plan.h for how it measures.
#include "apps/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/flags.h"
#include "apps/json_writer.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/storage.h"
#include "core/tensor.h"
#include "nn/models.h"
#include "optim/factory.h"

namespace basin::apps {

namespace {

int64_t live_bytes() { return storage_stats(DeviceType::CPU).live_bytes; }

int64_t tensor_bytes(const Tensor& t) {
  return t.defined() ? t.numel() * static_cast<int64_t>(dtype_size(t.dtype())) : 0;
}

// One batch of random inputs, labels and distinct dataset indices.
struct Batch {
  Tensor x, labels, indices;
};

Batch random_batch(const PlanRequest& req, int64_t batch, Generator& gen) {
  Batch b;
  b.x = randn({batch, req.channels, req.height, req.width}, gen, DType::F32, Device::cpu());
  std::vector<int64_t> labels(static_cast<size_t>(batch)), indices(labels.size());
  const int64_t stride = req.dataset_size / batch;  // >= 1: checked by the caller
  for (int64_t i = 0; i < batch; ++i) {
    labels[static_cast<size_t>(i)] = gen.randint(req.classes);
    indices[static_cast<size_t>(i)] = i * stride;
  }
  b.labels = from_vector<int64_t>(labels, {batch});
  b.indices = from_vector<int64_t>(indices, {batch});
  return b;
}

struct StepMemory {
  int64_t batch_tensors = 0, activations = 0, peak = 0;
};

// One optimizer step at `batch`; bytes relative to `baseline` (live bytes
// before the plan built anything, so tensors the caller holds do not count).
StepMemory measure_step(const PlanRequest& req, int64_t batch, nn::ResNet& model,
                        optim::Optimizer& opt, Generator& gen, int64_t baseline) {
  StepMemory m;
  const int64_t before_batch = live_bytes();
  Batch b = random_batch(req, batch, gen);
  m.batch_tensors = live_bytes() - before_batch;
  optim::StepInput in;
  in.labels = b.labels;
  in.indices = b.indices;
  in.progress = 0.5;  // NCSAM's s(t) at its plateau; only the arithmetic depends on it
  in.observe = false;
  reset_storage_peak(DeviceType::CPU);
  {
    // The closure's live-bytes growth is what one forward keeps for backward
    // (the graph's saved tensors and the logits).
    const optim::StepResult r = opt.step(
        [&](optim::Pass) {
          const int64_t start = live_bytes();
          Tensor logits = model.forward(b.x);
          m.activations = std::max(m.activations, live_bytes() - start);
          return logits;
        },
        in);
    BASIN_CHECK(!r.skipped, "basin plan: the measured step was skipped (", r.skip_reason, ")");
  }
  m.peak = storage_stats(DeviceType::CPU).peak_bytes - baseline;
  return m;
}

}  // namespace

int64_t MemoryPlan::largest_batch(double capacity_bytes) const {
  if (bytes_per_sample <= 0 || capacity_bytes < fixed_bytes + bytes_per_sample) return 0;
  return static_cast<int64_t>(std::floor((capacity_bytes - fixed_bytes) / bytes_per_sample));
}

MemoryPlan measure_memory_plan(const PlanRequest& req) {
  BASIN_CHECK(req.batch >= 2, "basin plan: --batch-size must be at least 2 (BatchNorm), got ",
              req.batch);
  BASIN_CHECK(req.channels > 0 && req.height > 0 && req.width > 0,
              "basin plan: --input must be three positive sizes CxHxW, got ", req.channels, "x",
              req.height, "x", req.width);
  BASIN_CHECK(req.classes >= 2, "basin plan: --classes must be at least 2, got ", req.classes);
  const int64_t second_batch = req.batch >= 4 ? req.batch / 2 : 2 * req.batch;
  BASIN_CHECK(req.dataset_size >= std::max(req.batch, second_batch),
              "basin plan: --dataset-size (", req.dataset_size,
              ") must be at least the batch sizes measured (", std::max(req.batch, second_batch),
              ")");
  optim::OptimConfig config;
  config.method = req.optimizer;
  config.schedule = "constant";
  config.epochs = 1;
  config.steps_per_epoch = 1;
  config.warmup_epochs = 0;  // measure the SAM family's real two-pass step
  optim::validate(config);

  MemoryPlan plan;
  plan.request = req;
  const int64_t baseline = live_bytes();
  Generator gen(req.seed);
  std::shared_ptr<nn::ResNet> model =
      nn::make_model(req.model, req.classes, req.channels, req.width_multiplier, gen);
  model->train();
  optim::FlatParams flat = optim::bind(*model, Device::cpu(), optim::bind_options(config));
  PlanBytes& b = plan.bytes;
  plan.parameter_count = flat.numel();
  b.parameters = tensor_bytes(flat.params());
  b.gradients = tensor_bytes(flat.grads());
  b.model_buffers = live_bytes() - baseline - b.parameters - b.gradients;

  int64_t before = live_bytes();
  optim::SampleTracker tracker(req.dataset_size, Device::cpu(), config.ema_beta);
  b.tracker = live_bytes() - before;

  // The optimizer allocates e, g2, g*, ... on first use: a small warm-up step
  // brings them into being before the measured steps.
  before = live_bytes();
  std::unique_ptr<optim::Optimizer> opt = optim::make_optimizer(config, flat, &tracker);
  measure_step(req, std::min<int64_t>(req.batch, 8), *model, *opt, gen, baseline);
  b.optimizer = live_bytes() - before;
  b.momentum = tensor_bytes(opt->momentum());
  b.perturbation = tensor_bytes(opt->perturbation());
  b.descent_gradient = tensor_bytes(opt->grad_at_perturbed());
  b.aux_gradient = tensor_bytes(opt->aux_grad());

  const StepMemory second = measure_step(req, second_batch, *model, *opt, gen, baseline);
  const StepMemory main = measure_step(req, req.batch, *model, *opt, gen, baseline);
  b.batch_tensors = main.batch_tensors;
  b.activations = main.activations;
  b.peak = main.peak;
  b.workspace = b.peak - b.persistent() - b.activations;
  plan.second_batch = second_batch;
  plan.second_peak = second.peak;
  plan.bytes_per_sample = static_cast<double>(main.peak - second.peak) /
                          static_cast<double>(req.batch - second_batch);
  plan.fixed_bytes = static_cast<double>(main.peak) - plan.bytes_per_sample * static_cast<double>(req.batch);
  return plan;
}

namespace {

// "3x32x32" -> {3, 32, 32}; throws naming the flag.
void parse_input_shape(const std::string& text, PlanRequest& req) {
  int64_t dims[3] = {0, 0, 0};
  size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    const size_t end = i < 2 ? text.find('x', start) : text.size();
    const std::string part = end == std::string::npos ? "" : text.substr(start, end - start);
    char* rest = nullptr;
    const long long v = part.empty() ? 0 : std::strtoll(part.c_str(), &rest, 10);
    BASIN_CHECK(!part.empty() && rest && *rest == '\0' && v > 0,
                "flag --input: expected CxHxW with three positive integers (e.g. 3x32x32), got '",
                text, "'");
    dims[i] = v;
    start = end + 1;
  }
  req.channels = dims[0];
  req.height = dims[1];
  req.width = dims[2];
}

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

void print_row(const char* what, int64_t bytes) {
  std::printf("  %-44s %14lld %10s\n", what, static_cast<long long>(bytes), mib(bytes).c_str());
}

constexpr int kCapacitiesGiB[] = {8, 16, 32, 64};

}  // namespace

int plan_main(int argc, char** argv) {
  Flags flags("plan",
              "Memory one training step needs, by category, measured by running a step on\n"
              "the CPU backend and counting live tensor bytes; and the largest batch that\n"
              "fits in 8, 16, 32 and 64 GiB.");
  flags.add("model", "resnet20", "model name (resnet18, resnet20, ...)");
  flags.add("batch-size", "128", "training batch size");
  flags.add("optimizer", "sgd", "sgd, sam, asam, ncsam or casam");
  flags.add("input", "3x32x32", "input shape CxHxW");
  flags.add("classes", "10", "number of classes");
  flags.add("width", "1", "width multiplier of the model");
  flags.add("dataset-size", "50000", "training-set size (rows of the per-sample tracker)");
  flags.add("seed", "0", "seed of the model and the random batch");
  flags.add_bool("json", "print only the JSON line");
  if (!flags.parse(argc, argv)) return 0;

  PlanRequest req;
  req.model = flags.str("model");
  req.optimizer = flags.str("optimizer");
  req.batch = flags.i64("batch-size");
  parse_input_shape(flags.str("input"), req);
  req.classes = flags.i64("classes");
  req.width_multiplier = flags.f64("width");
  BASIN_CHECK(req.width_multiplier > 0, "flag --width: must be > 0, got ", req.width_multiplier);
  req.dataset_size = flags.i64("dataset-size");
  req.seed = static_cast<uint64_t>(flags.i64("seed"));
  const bool json_only = flags.on("json");
  if (!json_only)
    std::fprintf(stderr, "basin plan: measuring steps at batch %lld and %lld on the CPU ...\n",
                 static_cast<long long>(req.batch),
                 static_cast<long long>(req.batch >= 4 ? req.batch / 2 : 2 * req.batch));
  const MemoryPlan plan = measure_memory_plan(req);
  const PlanBytes& b = plan.bytes;

  JsonObject fits;
  for (int gib : kCapacitiesGiB)
    fits.add(std::to_string(gib) + "GiB", plan.largest_batch(gib * 1073741824.0));
  JsonObject json;
  json.add("model", req.model).add("optimizer", req.optimizer).add("batch", req.batch);
  json.add("input", flags.str("input")).add("classes", req.classes).add("width", req.width_multiplier);
  json.add("dataset_size", req.dataset_size).add("parameter_count", plan.parameter_count);
  json.add("parameters", b.parameters).add("gradients", b.gradients).add("optimizer_buffers", b.optimizer);
  json.add("momentum", b.momentum).add("perturbation", b.perturbation);
  json.add("descent_gradient", b.descent_gradient).add("aux_gradient", b.aux_gradient);
  json.add("tracker", b.tracker).add("model_buffers", b.model_buffers).add("batch_tensors", b.batch_tensors);
  json.add("activations", b.activations).add("workspace", b.workspace).add("peak", b.peak);
  json.add("second_batch", plan.second_batch).add("second_peak", plan.second_peak);
  json.add("fixed_bytes", plan.fixed_bytes).add("bytes_per_sample", plan.bytes_per_sample);
  json.add_raw("largest_batch", fits.str());

  if (!json_only) {
    std::printf("%s, %lld parameters, batch %lld, optimizer %s, input %s, %lld classes, tracker for %lld samples\n",
                req.model.c_str(), static_cast<long long>(plan.parameter_count),
                static_cast<long long>(req.batch), req.optimizer.c_str(), flags.str("input").c_str(),
                static_cast<long long>(req.classes), static_cast<long long>(req.dataset_size));
    std::printf("measured: live tensor bytes during one training step on the CPU backend\n\n");
    std::printf("  %-44s %14s %10s\n", "", "bytes", "MiB");
    print_row("parameters", b.parameters);
    print_row("gradients", b.gradients);
    print_row("optimizer buffers", b.optimizer);
    if (b.momentum) print_row("  momentum", b.momentum);
    if (b.perturbation) print_row("  e (perturbation)", b.perturbation);
    if (b.descent_gradient) print_row("  g2 (gradient at w + e)", b.descent_gradient);
    if (b.aux_gradient) print_row(req.optimizer == "casam" ? "  g_C (clean-subset gradient)" : "  g* (simulated-noise gradient)", b.aux_gradient);
    const int64_t other = b.optimizer - b.momentum - b.perturbation - b.descent_gradient - b.aux_gradient;
    if (other) print_row("  other (ASAM scale, CA-SAM mask, ...)", other);
    print_row("sample tracker", b.tracker);
    print_row("BatchNorm statistics and masks", b.model_buffers);
    print_row("batch (inputs, labels, indices)", b.batch_tensors);
    print_row("activations saved for backward", b.activations);
    print_row("workspace (temporaries at the peak)", b.workspace);
    print_row("peak", b.peak);
    std::printf("\nlargest batch that fits (tensor bytes only; the CUDA context, cuDNN workspaces\n"
                "and the OS need their share): extrapolated linearly in the batch size through\n"
                "the peaks measured at batch %lld (%s MiB) and %lld (%s MiB): %.0f + %.0f * B bytes\n",
                static_cast<long long>(plan.second_batch), mib(plan.second_peak).c_str(),
                static_cast<long long>(req.batch), mib(b.peak).c_str(), plan.fixed_bytes,
                plan.bytes_per_sample);
    for (int gib : kCapacitiesGiB)
      std::printf("  %2d GiB: %lld\n", gib, static_cast<long long>(plan.largest_batch(gib * 1073741824.0)));
  }
  std::printf("%s\n", json.str().c_str());
  return 0;
}

}  // namespace basin::apps

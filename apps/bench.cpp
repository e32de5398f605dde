// `basin bench`: wall time of a training step (forward + backward of the mean
// cross-entropy, plus the optimizer step when one is asked for) of a CIFAR
// ResNet on random data. Prints a table and one JSON line (apps/bench.sh,
// docs/benchmarks.md); --breakdown times the convolution and BatchNorm kernels
// layer by layer, to say where a slow step spends its time. On --device cuda the
// clock is read only after the backend has drained its queue, and the peak
// device memory of the timed steps is reported (apps/bench_gpu.sh).
#include <omp.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "apps/bench_gemm.h"
#include "apps/commands.h"
#include "apps/flags.h"
#include "core/backend.h"
#include "core/cpu/isa.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/batch_norm.h"
#include "nn/layers.h"
#include "nn/models.h"

#if defined(BASIN_HAS_CUDA)
#include "cuda/cuda_info.h"
#endif

#if __has_include("optim/factory.h")
#include "optim/captured_step.h"
#include "optim/factory.h"
#define BASIN_BENCH_HAS_OPTIM 1
#else
#define BASIN_BENCH_HAS_OPTIM 0
#endif

namespace basin::apps {

namespace {

// Peak resident set of this process (CPU runs); -1 when unknown.
double peak_rss_mib() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return -1.0;
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// "Intel(R) Xeon(R) ..." from /proc/cpuinfo; "cpu" when it cannot be read.
std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? "cpu" : line.substr(start);
  }
  return "cpu";
}

// Text as a JSON string literal (device names may hold quotes or backslashes).
std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

// The --device / --tf32 / --deterministic combination, applied to the CUDA
// backend's switches; throws basin::Error for what this build cannot do.
void apply_device_switches(Device device, bool tf32, bool deterministic) {
  BASIN_CHECK(device.is_cpu() || has_backend(device.type), "basin bench: --device ", device.str(),
              " is not available in this build (configure with -DBASIN_CUDA=ON and build on a "
              "machine with nvcc)");
  BASIN_CHECK(!tf32 || device.is_cuda(), "basin bench: --tf32 applies to --device cuda only (",
              device.str(), " always computes f32 in full precision)");
#if defined(BASIN_HAS_CUDA)
  if (device.is_cuda()) {
    BASIN_CHECK(device.index < cuda::device_count(), "basin bench: --device ", device.str(),
                ": no such GPU (", cuda::device_count(), " visible",
                cuda::no_device_reason().empty() ? "" : "; " + cuda::no_device_reason(), ")");
    cuda::set_tf32(tf32);
    cuda::set_deterministic(deterministic);
  }
#else
  // The CPU backend is deterministic whatever the flag says.
  (void)deterministic;
#endif
}

std::string device_name(Device device) {
#if defined(BASIN_HAS_CUDA)
  if (device.is_cuda()) return cuda::device_name(device.index);
#endif
  (void)device;
  return cpu_model_name();
}

// Peak device memory handed out to tensors since reset_device_peak(), in MiB;
// -1 on the CPU.
void reset_device_peak(Device device) {
#if defined(BASIN_HAS_CUDA)
  if (device.is_cuda()) cuda::reset_peak();
#endif
  (void)device;
}

double device_peak_mib(Device device) {
#if defined(BASIN_HAS_CUDA)
  if (device.is_cuda()) return static_cast<double>(cuda::peak_allocated_bytes()) / (1024.0 * 1024.0);
#endif
  (void)device;
  return -1.0;
}

// CPU time of the whole process (every thread), in ms: on a machine shared
// with other work a step's wall time includes the waits for a core, its CPU
// time does not, so A/B comparisons under load quote this (docs/benchmarks.md).
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

struct Timing {
  double mean_ms = 0, median_ms = 0, min_ms = 0;
};

Timing summarize(std::vector<double> ms) {
  Timing t;
  std::sort(ms.begin(), ms.end());
  for (double v : ms) t.mean_ms += v;
  t.mean_ms /= static_cast<double>(ms.size());
  t.median_ms = ms[ms.size() / 2];
  t.min_ms = ms.front();
  return t;
}

// One training step as a callable; the optimizer variant is only compiled when
// optim/ exists in this tree.
class StepRunner {
 public:
  StepRunner(nn::ResNet& model, const Tensor& x, const Tensor& y, const std::string& optimizer,
             Device device, bool cuda_graph)
      : model_(model), x_(x), y_(y), optimizer_(optimizer) {
    BASIN_CHECK(!cuda_graph || optimizer_ != "none",
                "basin bench: --cuda-graph captures an optimizer step; give --optimizer sgd, sam, asam or ncsam");
    if (optimizer_ == "none") return;
#if BASIN_BENCH_HAS_OPTIM
    flat_ = optim::bind(model_, device);
    optim::OptimConfig config;
    config.method = optimizer_;
    config.schedule = "constant";
    config.epochs = 1;
    config.steps_per_epoch = 1;
    config.warmup_epochs = 0;  // NCSAM/CA-SAM: no plain-SGD warm-up, time the real step
    opt_ = optim::make_optimizer(config, flat_);
    // Warm-up step, then capture (the untimed --warmup steps when it is >= 2), then replays.
    if (cuda_graph)
      captured_ = std::make_unique<optim::CapturedStep>(*opt_, [this](const Tensor& x) { return model_.forward(x); });
#else
    (void)cuda_graph;
    (void)device;
    fail(cat("basin bench: --optimizer ", optimizer_,
             " needs optim/, which this build does not have yet; use --optimizer none"));
#endif
  }

  // One step as `basin train` runs it off its logging steps: the optimizer
  // reads nothing back (StepInput::read_back = false). Without an optimizer,
  // fwd+bwd keeps its loss on the device too.
  void run(int64_t step) {
#if BASIN_BENCH_HAS_OPTIM
    if (opt_) {
      optim::StepInput in;
      in.labels = y_;
      in.step = step;
      in.progress = 0.5;
      in.observe = false;
      in.read_back = false;
      if (captured_)
        captured_->step(x_, in);
      else
        opt_->step([&](optim::Pass) { return model_.forward(x_); }, in);
      return;
    }
#endif
    (void)step;
    model_.zero_grad();
    last_loss_ = cross_entropy(model_.forward(x_), y_);
    last_loss_.backward();
  }

  // The last step's loss (one read; resolves the optimizer's pending steps).
  double last_loss() {
#if BASIN_BENCH_HAS_OPTIM
    if (opt_) {
      const std::vector<optim::StepResult> results = opt_->sync();
      return results.empty() ? std::nan("") : results.back().loss;
    }
#endif
    return last_loss_.defined() ? last_loss_.item() : std::nan("");
  }

 private:
  nn::ResNet& model_;
  Tensor x_, y_, last_loss_;
  std::string optimizer_;
#if BASIN_BENCH_HAS_OPTIM
  optim::FlatParams flat_;
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<optim::CapturedStep> captured_;  // after opt_: destroyed first
#endif
};

// --- kernel breakdown ---
// Each Conv2d and BatchNorm2d of the model is re-run alone through the device's
// Backend on random tensors of the shapes it sees in the step, so the sum per
// kind of kernel can be set against the measured step ("other" is the rest:
// ReLU, residual adds, pooling, linear, loss, allocation, autograd).

template <class F>
double time_ms(Device device, F&& kernel) {
  using Clock = std::chrono::steady_clock;
  kernel();  // warm caches and allocations
  backend_for(device).synchronize();
  std::vector<double> ms;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    kernel();
    backend_for(device).synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return summarize(ms).median_ms;
}

void print_kernel_breakdown(nn::ResNet& model, int64_t batch, int64_t size, Device device,
                            double step_ms) {
  Generator gen(12345);
  Backend& be = backend_for(device);
  double conv_fwd = 0, conv_bwd_in = 0, conv_bwd_w = 0, bn_fwd = 0, bn_bwd = 0;
  std::printf("\nper-layer kernel times (ms, median of 3; backend %s)\n", be.name());
  std::printf("%-28s %-26s %9s %9s %9s %9s\n", "conv layer", "x -> y", "forward", "bwd-input",
              "bwd-weight", "GFLOP/s");
  std::string layer_json;
  for (auto& [name, module] : model.named_modules()) {
    auto* conv = dynamic_cast<nn::Conv2d*>(module);
    if (!conv) continue;
    const int stride = conv->options.stride;
    const int64_t oh = stage_output_size(name, size), ih = oh * stride;
    Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = conv->options.padding;
    const Tensor x = randn({batch, conv->in_channels, ih, ih}, gen, DType::F32, device);
    const Tensor w = conv->weight.detach();
    const Tensor gy = randn({batch, conv->out_channels, oh, oh}, gen, DType::F32, device);
    Tensor y = empty(gy.shape(), DType::F32, device), gx = empty(x.shape(), DType::F32, device);
    Tensor gw = empty(w.shape(), DType::F32, device);
    const double f = time_ms(device, [&] { be.conv2d_forward(x, w, Tensor(), y, p); });
    // The stem's input needs no gradient, so a training step skips its backward-input.
    const bool stem = name == "conv1";
    const double bi = stem ? 0.0 : time_ms(device, [&] { be.conv2d_backward_input(gy, w, gx, p); });
    const double bw = time_ms(device, [&] { be.conv2d_backward_weight(gy, x, gw, p); });
    conv_fwd += f;
    conv_bwd_in += bi;
    conv_bwd_w += bw;
    const std::string shapes = cat(conv->in_channels, "x", ih, "x", ih, " -> ", conv->out_channels,
                                   "x", oh, "x", oh, " k", conv->kernel_size);
    // multiply-adds of one pass, as FLOPs: 2 N C_out OH OW C_in k k
    const double gflop = 2.0 * static_cast<double>(batch * conv->out_channels * oh * oh) *
                         static_cast<double>(conv->in_channels * conv->kernel_size * conv->kernel_size) / 1e9;
    const double passes = stem ? 2.0 : 3.0;
    std::printf("%-28s %-26s %9.2f %9.2f %9.2f %9.1f\n", name.c_str(), shapes.c_str(), f, bi, bw,
                passes * gflop / ((f + bi + bw) / 1000.0));
    layer_json += cat("{\"engine\":\"basin\",\"layer\":\"", name, "\",\"shape\":\"", shapes,
                      "\",\"forward_ms\":", f, ",\"backward_input_ms\":", bi,
                      ",\"backward_weight_ms\":", bw, ",\"gflop_per_pass\":", gflop, "}\n");
  }
  for (auto& [name, module] : model.named_modules()) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(module);
    if (!bn) continue;
    const int64_t hw = stage_output_size(name, size), c = bn->num_features;
    const Tensor x = randn({batch, c, hw, hw}, gen, DType::F32, device);
    const Tensor gy = randn(x.shape(), gen, DType::F32, device);
    const Tensor gamma = bn->weight.detach(), beta = bn->bias.detach();
    Tensor rm = zeros({c}, DType::F32, device), rv = ones({c}, DType::F32, device);
    Tensor y = empty(x.shape(), DType::F32, device), gx = empty(x.shape(), DType::F32, device);
    Tensor mean = empty({c}, DType::F32, device), invstd = empty({c}, DType::F32, device);
    Tensor gg = empty({c}, DType::F32, device), gb = empty({c}, DType::F32, device);
    bn_fwd += time_ms(device, [&] {
      be.batch_norm_train(x, gamma, beta, rm, rv, true, 0.1, 1e-5, y, mean, invstd);
    });
    bn_bwd += time_ms(device, [&] { be.batch_norm_backward(gy, x, gamma, mean, invstd, gx, gg, gb); });
  }
  const double counted = conv_fwd + conv_bwd_in + conv_bwd_w + bn_fwd + bn_bwd;
  const struct { const char* what; double ms; } rows[] = {
      {"conv forward", conv_fwd},       {"conv backward-input", conv_bwd_in},
      {"conv backward-weight", conv_bwd_w}, {"batchnorm forward", bn_fwd},
      {"batchnorm backward", bn_bwd},   {"other (step - above)", step_ms - counted}};
  std::printf("\n%-24s %10s %8s\n", "kernel", "ms/step", "% step");
  for (const auto& r : rows) std::printf("%-24s %10.1f %7.1f%%\n", r.what, r.ms, 100.0 * r.ms / step_ms);
  std::printf("%-24s %10.1f\n", "measured step", step_ms);
  std::printf(
      "{\"engine\":\"basin\",\"breakdown_ms\":{\"conv_forward\":%.2f,\"conv_backward_input\":%.2f,"
      "\"conv_backward_weight\":%.2f,\"bn_forward\":%.2f,\"bn_backward\":%.2f,\"other\":%.2f,"
      "\"step\":%.2f}}\n",
      conv_fwd, conv_bwd_in, conv_bwd_w, bn_fwd, bn_bwd, step_ms - counted, step_ms);
  std::fputs(layer_json.c_str(), stdout);
}

}  // namespace

int bench_main(int argc, char** argv) {
  Flags flags("bench",
              "Training-step throughput of a CIFAR ResNet on random data: forward + backward\n"
              "of the mean cross-entropy (+ the optimizer step with --optimizer).");
  flags.add("model", "resnet20", "model name (resnet18, resnet20, ...)");
  flags.add("batch-size", "128", "batch size");
  flags.add("threads", "2", "CPU threads (OpenMP)");
  flags.add("steps", "10", "timed steps");
  flags.add("warmup", "2", "untimed steps first");
  flags.add("device", "cpu", "cpu or cuda[:i]");
  flags.add_bool("tf32", "CUDA: TF32 tensor-core math for f32 GEMM and convolution (default: full f32)");
  flags.add_bool("deterministic", "CUDA: deterministic cuDNN algorithms (the CPU always is)");
  flags.add_bool("cuda-graph", "CUDA: capture the optimizer step as a CUDA graph after one warm-up step and "
                 "replay it (off by default until verified on a GPU; --device cpu refuses it)");
  flags.add("optimizer", "none", "none (forward+backward only), sgd, sam, asam or ncsam");
  flags.add("classes", "10", "number of classes");
  flags.add("size", "32", "input height and width");
  flags.add("seed", "0", "seed of the model and the data");
  flags.add_bool("json", "print only the JSON line");
  flags.add_bool("breakdown", "also time each convolution and BatchNorm kernel of the model");
  flags.add_bool("gemm", "instead: measure the FMA peak and the GEMM's GFLOP/s on the model's conv shapes");
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    BASIN_CHECK(arg != "--batch" && arg.rfind("--batch=", 0) != 0,
                "basin bench: --batch is now --batch-size (the spelling of train and eval)");
  }
  if (!flags.parse(argc, argv)) return 0;

  const std::string model_name = flags.str("model"), optimizer = flags.str("optimizer");
  const int64_t batch = flags.i64("batch-size"), threads = flags.i64("threads"), steps = flags.i64("steps"),
                warmup = flags.i64("warmup"), classes = flags.i64("classes"), size = flags.i64("size");
  const Device device = Device::parse(flags.str("device"));
  BASIN_CHECK(batch > 1, "basin bench: --batch-size must be at least 2, got ", batch);
  BASIN_CHECK(threads > 0, "basin bench: --threads must be positive, got ", threads);
  BASIN_CHECK(steps > 0 && warmup >= 0, "basin bench: need --steps > 0 and --warmup >= 0, got ",
              steps, " and ", warmup);
  const std::vector<std::string> optimizers = {"none", "sgd", "sam", "asam", "ncsam"};
  BASIN_CHECK(std::find(optimizers.begin(), optimizers.end(), optimizer) != optimizers.end(),
              "basin bench: --optimizer must be none, sgd, sam, asam or ncsam, got '", optimizer, "'");
  omp_set_num_threads(static_cast<int>(threads));
  const bool tf32 = flags.on("tf32"), deterministic = flags.on("deterministic");
  apply_device_switches(device, tf32, deterministic);

  Generator gen(static_cast<uint64_t>(flags.i64("seed")));
  auto model = nn::make_model(model_name, classes, 3, 1.0, gen);
  if (flags.on("gemm")) {
    BASIN_CHECK(device.is_cpu(), "basin bench: --gemm measures the CPU GEMM (drop --device)");
    print_gemm_efficiency(*model, batch, size, static_cast<int>(threads));
    return 0;
  }
  model->to(device);
  model->train();
  const Tensor x = randn({batch, 3, size, size}, gen, DType::F32, device);
  std::vector<int64_t> labels(static_cast<size_t>(batch));
  for (auto& v : labels) v = gen.randint(classes);
  const Tensor y = from_vector<int64_t>(labels, {batch}, device);

  const bool cuda_graph = flags.on("cuda-graph");
  BASIN_CHECK(!cuda_graph || device.is_cuda(), "basin bench: --cuda-graph captures GPU work as a CUDA graph; "
              "it needs --device cuda (this run is on ", device.str(), ")");
  StepRunner runner(*model, x, y, optimizer, device, cuda_graph);
  using Clock = std::chrono::steady_clock;
  Backend& backend = backend_for(device);
  for (int64_t i = 0; i < warmup; ++i) runner.run(i);
  runner.last_loss();
  // Every step starts and ends with an idle device, so a step's time is its
  // own kernels' and not the tail of the one before.
  backend.synchronize();
  reset_device_peak(device);
  std::vector<double> ms, cpu_ms;
  const uint64_t reads_before = device_to_host_reads();
  for (int64_t i = 0; i < steps; ++i) {
    backend.synchronize();
    const auto t0 = Clock::now();
    const double c0 = process_cpu_ms();
    runner.run(warmup + i);
    backend.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    cpu_ms.push_back(process_cpu_ms() - c0);
  }
  // Device-to-host reads inside the timed steps (core/backend.h's counter).
  const double reads_per_step =
      static_cast<double>(device_to_host_reads() - reads_before) / static_cast<double>(std::max<int64_t>(steps, 1));
  const double loss = runner.last_loss();
  const Timing t = summarize(ms);
  // Every step's time, for apps/bench.sh to pool interleaved runs.
  std::string step_list, cpu_list;
  for (double v : ms) step_list += (step_list.empty() ? "" : ",") + std::to_string(v);
  for (double v : cpu_ms) cpu_list += (cpu_list.empty() ? "" : ",") + std::to_string(v);
  const double images_per_s = 1000.0 * static_cast<double>(batch) / t.mean_ms;
  const double peak_rss = peak_rss_mib();
  const double peak_device = device_peak_mib(device);
  const double peak_mib = device.is_cpu() ? peak_rss : peak_device;
  const std::string what =
      (optimizer == "none" ? "fwd+bwd" : "fwd+bwd+" + optimizer) + (cuda_graph ? " graph" : "");
  const std::string name = device_name(device);
  const auto number_or_null = [](double v) { return v < 0 ? std::string("null") : std::to_string(v); };

  if (!flags.on("json")) {
    std::printf("%-10s %6s %7s %-14s %9s %9s %9s %10s %10s %11s\n", "model", "batch", "threads", "step",
                "ms/step", "median", "min", "images/s", "peak MiB", "reads/step");
    std::printf("%-10s %6lld %7lld %-14s %9.1f %9.1f %9.1f %10.1f %10s %11.1f\n", model_name.c_str(),
                static_cast<long long>(batch), static_cast<long long>(threads), what.c_str(),
                t.mean_ms, t.median_ms, t.min_ms, images_per_s,
                peak_mib < 0 ? "n/a" : std::to_string(static_cast<int64_t>(peak_mib)).c_str(), reads_per_step);
    if (device.is_cuda())
      std::printf("device %s (%s), tf32 %s, deterministic %s; peak MiB = device memory of the timed steps\n",
                  device.str().c_str(), name.c_str(), tf32 ? "on" : "off", deterministic ? "on" : "off");
  }
  std::printf(
      "{\"engine\":\"basin\",\"model\":\"%s\",\"batch\":%lld,\"threads\":%lld,\"device\":\"%s\","
      "\"step\":\"%s\",\"steps\":%lld,\"warmup\":%lld,\"ms_per_step\":%.3f,\"median_ms\":%.3f,"
      "\"min_ms\":%.3f,\"images_per_s\":%.2f,\"peak_rss_mib\":%s,\"loss\":%.6f,"
      "\"device_name\":%s,\"peak_device_mib\":%s,\"tf32\":%s,\"deterministic\":%s,"
      "\"isa\":\"%s\",\"conv_gflop_per_step\":%.3f,\"device_to_host_reads_per_step\":%.2f,\"step_ms\":[%s],"
      "\"step_cpu_ms\":[%s],\"cuda_graph\":%s}\n",
      model_name.c_str(), static_cast<long long>(batch), static_cast<long long>(threads),
      device.str().c_str(), what.c_str(), static_cast<long long>(steps),
      static_cast<long long>(warmup), t.mean_ms, t.median_ms, t.min_ms, images_per_s,
      number_or_null(peak_rss).c_str(), loss, json_string(name).c_str(),
      number_or_null(peak_device).c_str(), tf32 ? "true" : "false", deterministic ? "true" : "false",
      cpu::isa_name(), conv_gflop_per_step(*model, batch, size), reads_per_step, step_list.c_str(),
      cpu_list.c_str(), cuda_graph ? "true" : "false");

  if (flags.on("breakdown")) print_kernel_breakdown(*model, batch, size, device, t.mean_ms);
  return 0;
}

}  // namespace basin::apps

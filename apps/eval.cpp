// `basin eval`: accuracy (overall and per class) of a training checkpoint on a
// dataset split, printed as a table and a JSON line; optionally every logit
// as a .npy file. The model is rebuilt from the checkpoint's metadata.
#include <omp.h>

#include <cstdio>

#include "apps/checkpoint.h"
#include "apps/checkpoint_model.h"
#include "apps/commands.h"
#include "apps/dataset_spec.h"
#include "apps/evaluation.h"
#include "apps/flags.h"
#include "apps/json_writer.h"
#include "apps/npy.h"
#include "core/backend.h"
#include "core/error.h"

namespace basin::apps {

int eval_main(int argc, char** argv) {
  Flags f("eval", "Accuracy of a training checkpoint on a dataset split (eval-mode BatchNorm, clean labels).");
  f.add("checkpoint", "", "checkpoint file, or a run directory holding checkpoint.safetensors (required)");
  f.add("dataset", "", std::string("dataset: ") + dataset_spec_forms() + " (default: the run's)");
  f.add("split", "test", "train | test");
  f.add("limit", "0", "only the first N images of the split (0: all)");
  f.add("batch-size", "256", "evaluation batch size");
  f.add("device", "cpu", "cpu | cuda | cuda:N");
  f.add("threads", "0", "OpenMP threads on the CPU (0: OMP_NUM_THREADS, else all cores)");
  f.add("dump-logits", "", "write the logits [N, classes] as float32 .npy to this file");
  declare_dataset_flags(f);  // --mean/--std default here to the checkpoint's constants, --resize/--channels to the run's
  if (!f.parse(argc, argv)) return 0;
  BASIN_CHECK(!f.str("checkpoint").empty(), "flag --checkpoint is required (see basin eval --help)");
  const int64_t limit = f.i64("limit");
  BASIN_CHECK(limit >= 0, "flag --limit: must be >= 0, got ", limit);
  const int64_t batch_size = f.i64("batch-size");
  BASIN_CHECK(batch_size > 0, "flag --batch-size: must be > 0, got ", batch_size);
  const int64_t threads = f.i64("threads");
  BASIN_CHECK(threads >= 0, "flag --threads: must be >= 0, got ", threads);
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
  const Device device = Device::parse(f.str("device"));
  BASIN_CHECK(has_backend(device.type), "device '", f.str("device"), "' is not available in this build");

  const Checkpoint ck = load_checkpoint(checkpoint_path(f.str("checkpoint")));
  const int64_t classes = ck.meta_i64("num_classes");
  const CheckpointData data = load_checkpoint_dataset(ck, f, f.str("split"), limit);
  const data::Dataset& ds = data.dataset;
  const std::string& dataset_spec = data.spec;
  if (!ds.provenance.empty()) std::fprintf(stderr, "%s\n", ds.provenance.c_str());
  std::fprintf(stderr, "normalised with mean [%s], std [%s] (%s)\n", format_constants(data.mean).c_str(),
               format_constants(data.std).c_str(),
               data.constants_from_flags ? "--mean/--std given" : "the checkpoint's constants");
  auto model = model_from_checkpoint(ck);
  model->to(device);
  const bool dump = !f.str("dump-logits").empty();
  const EvalResult r = evaluate(*model, ds, normalization_spec(data.mean, data.std), device, batch_size, dump);

  std::printf("%s %s split, %lld images: accuracy %.2f%% (%lld correct), loss %.4f\n", dataset_spec.c_str(),
              f.str("split").c_str(), static_cast<long long>(r.samples), 100 * r.accuracy,
              static_cast<long long>(r.correct), r.loss);
  std::vector<double> per_class;
  for (size_t c = 0; c < r.class_samples.size(); ++c) {
    per_class.push_back(r.class_accuracy(c));
    const std::string name = c < ds.class_names.size() ? ds.class_names[c] : std::to_string(c);
    std::printf("  class %3zu %-14s %6.2f%%  (%lld images)\n", c, name.c_str(), 100 * r.class_accuracy(c),
                static_cast<long long>(r.class_samples[c]));
  }
  if (dump) {
    write_npy_f32(f.str("dump-logits"), r.logits);
    std::printf("logits [%lld, %lld] written to %s\n", static_cast<long long>(r.samples),
                static_cast<long long>(classes), f.str("dump-logits").c_str());
  }
  JsonObject line;
  line.add("type", "eval").add("checkpoint", ck.path).add("dataset", dataset_spec).add("split", f.str("split"))
      .add("samples", r.samples).add("correct", r.correct).add("accuracy", r.accuracy).add("loss", r.loss)
      .add("class_accuracy", per_class).add("class_samples", r.class_samples)
      .add("epoch", ck.meta_i64("epoch"));
  std::printf("%s\n", line.str().c_str());
  return 0;
}

}  // namespace basin::apps

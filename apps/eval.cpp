// `basin eval`: accuracy (overall and per class) of model weights on a dataset
// split: a table on stderr, one JSON line on stdout, optionally every logit as
// a .npy file. The model is rebuilt from the checkpoint's metadata, or from
// --model/--width/--num-classes for a plain PyTorch state_dict.
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
#include "nn/models.h"

namespace basin::apps {

int eval_main(int argc, char** argv) {
  Flags f("eval",
          "Accuracy of model weights on a dataset split (eval-mode BatchNorm, clean labels).\n"
          "The weights are a basin training checkpoint, or a plain PyTorch state_dict saved with\n"
          "safetensors (then give --model, --width, --num-classes and --dataset). The table goes\n"
          "to stderr, one JSON line to stdout.");
  f.add("checkpoint", "", "checkpoint or plain state_dict file, or a run directory holding checkpoint.safetensors (required)");
  f.add("model", "", "plain state_dict: its model (resnet18, resnet20, ...); a checkpoint's must agree");
  f.add("width", "0", "plain state_dict: its width multiplier; a checkpoint's must agree (0: not given)");
  f.add("num-classes", "0", "plain state_dict: its number of classes; a checkpoint's must agree (0: not given)");
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
  BASIN_CHECK(f.f64("width") >= 0, "flag --width: must be > 0 (or 0: not given), got ", f.f64("width"));
  BASIN_CHECK(f.i64("num-classes") >= 0, "flag --num-classes: must be > 1 (or 0: not given), got ",
              f.i64("num-classes"));
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
  const Device device = Device::parse(f.str("device"));
  BASIN_CHECK(has_backend(device.type), "device '", f.str("device"), "' is not available in this build");

  // Everything the file has to say is read before any work, so a bad file
  // fails here and not after the results.
  const ModelWeights weights =
      load_model_weights(checkpoint_path(f.str("checkpoint")), {f.str("model"), f.f64("width"), f.i64("num-classes")});
  const Checkpoint& ck = weights.file;
  const bool dump = !f.str("dump-logits").empty();
  if (dump) check_npy_destination(f.str("dump-logits"));

  // A checkpoint brings its dataset, folder conversions and constants (flags
  // override them); a plain file brings nothing, so the dataset's are used.
  CheckpointData data;
  int64_t epoch = -1;
  if (weights.plain) {
    BASIN_CHECK(!f.str("dataset").empty(), "'", ck.path,
                "' is a plain state_dict, which does not say what it was trained on: give --dataset");
    data.spec = f.str("dataset");
    const DatasetOptions options = dataset_options_from_flags(f, DatasetOptions{});
    data.dataset = load_dataset(data.spec, f.str("split"), limit, options);
    data.mean = data.dataset.mean;
    data.std = data.dataset.std;
    data.constants_from_flags = !options.mean.empty() || !options.std.empty();
    BASIN_CHECK(data.dataset.num_classes == weights.spec.num_classes, "dataset '", data.spec, "' has ",
                data.dataset.num_classes, " classes; the model of '", ck.path, "' expects ",
                weights.spec.num_classes);
  } else {
    data = load_checkpoint_dataset(ck, f, f.str("split"), limit);
    epoch = ck.meta_i64("epoch");
  }
  const data::Dataset& ds = data.dataset;
  const std::string& dataset_spec = data.spec;
  if (!ds.provenance.empty()) std::fprintf(stderr, "%s\n", ds.provenance.c_str());
  std::fprintf(stderr, "normalised with mean [%s], std [%s] (%s)\n", format_constants(data.mean).c_str(),
               format_constants(data.std).c_str(),
               data.constants_from_flags ? "--mean/--std given"
               : weights.plain           ? "the dataset's constants"
                                         : "the checkpoint's constants");
  const int64_t classes = weights.spec.num_classes;
  const int64_t channels = ds.channels();
  auto model = nn::make_model(weights.spec.model, classes, channels, weights.spec.width, uint64_t{0});
  load_weights_into(*model, weights);
  model->to(device);
  const EvalResult r = evaluate(*model, ds, normalization_spec(data.mean, data.std), device, batch_size, dump);

  // The table is for people (stderr); stdout carries exactly one JSON line.
  std::fprintf(stderr, "%s %s split, %lld images: accuracy %.2f%% (%lld correct), loss %.4f\n",
               dataset_spec.c_str(), f.str("split").c_str(), static_cast<long long>(r.samples), 100 * r.accuracy,
               static_cast<long long>(r.correct), r.loss);
  std::vector<double> per_class;
  for (size_t c = 0; c < r.class_samples.size(); ++c) {
    per_class.push_back(r.class_accuracy(c));
    const std::string name = c < ds.class_names.size() ? ds.class_names[c] : std::to_string(c);
    std::fprintf(stderr, "  class %3zu %-14s %6.2f%%  (%lld images)\n", c, name.c_str(), 100 * r.class_accuracy(c),
                 static_cast<long long>(r.class_samples[c]));
  }
  if (dump) {
    write_npy_f32(f.str("dump-logits"), r.logits);
    std::fprintf(stderr, "logits [%lld, %lld] written to %s\n", static_cast<long long>(r.samples),
                 static_cast<long long>(classes), f.str("dump-logits").c_str());
  }
  JsonObject line;
  line.add("type", "eval").add("checkpoint", ck.path).add("weights", weights.plain ? "plain" : "checkpoint")
      .add("model", weights.spec.model).add("dataset", dataset_spec).add("split", f.str("split"))
      .add("samples", r.samples).add("correct", r.correct).add("accuracy", r.accuracy).add("loss", r.loss)
      .add("class_accuracy", per_class).add("class_samples", r.class_samples);
  if (!weights.plain) line.add("epoch", epoch);
  std::printf("%s\n", line.str().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace basin::apps

// Model and dataset of a finished run; see checkpoint_model.h.
#include "apps/checkpoint_model.h"

#include "apps/dataset_spec.h"
#include "core/error.h"
#include "nn/models.h"
#include "nn/state_dict.h"

namespace basin::apps {

std::shared_ptr<nn::ResNet> model_from_checkpoint(const Checkpoint& ck) {
  auto model = nn::make_model(ck.meta("model"), ck.meta_i64("num_classes"), ck.meta_i64("in_channels"),
                              ck.meta_f64("width"), uint64_t{0});
  try {
    nn::load_state_dict(*model, ck.model_state());
  } catch (const Error& e) {
    fail(cat("checkpoint '", ck.path, "': ", e.what()));
  }
  return model;
}

bool same_architecture(const Checkpoint& a, const Checkpoint& b, std::string* why) {
  for (const char* key : {"model", "width", "num_classes", "in_channels"})
    if (a.meta(key) != b.meta(key)) {
      if (why) *why = cat(key, " is '", a.meta(key), "' in '", a.path, "' but '", b.meta(key), "' in '", b.path, "'");
      return false;
    }
  return true;
}

CheckpointData load_checkpoint_dataset(const Checkpoint& ck, const Flags& flags, const std::string& split,
                                       int64_t limit) {
  CheckpointData out;
  out.mean = split_doubles(ck.meta("normalization.mean"), cat("checkpoint '", ck.path, "': metadata 'normalization.mean'"));
  out.std = split_doubles(ck.meta("normalization.std"), cat("checkpoint '", ck.path, "': metadata 'normalization.std'"));
  out.spec = flags.str("dataset").empty() ? ck.meta("train.dataset") : flags.str("dataset");
  // The run's folder conversions (resize, channels) unless flags say otherwise;
  // its constants are the checkpoint's, which --mean/--std replace.
  DatasetOptions run_options;
  if (ck.has_meta("train.normalization")) run_options = parse_dataset_options(ck.meta("train.normalization"));
  run_options.mean.clear();
  run_options.std.clear();
  if (out.spec.rfind("folder:", 0) != 0) {  // the run's folder conversions mean nothing elsewhere
    run_options.resize_width = run_options.resize_height = 0;
    run_options.channels = 0;
  }
  const DatasetOptions options = dataset_options_from_flags(flags, run_options);
  out.dataset = load_dataset(out.spec, split, limit, options);
  if (!options.mean.empty()) out.mean = out.dataset.mean;
  if (!options.std.empty()) out.std = out.dataset.std;
  out.constants_from_flags = !options.mean.empty() || !options.std.empty();
  const int64_t classes = ck.meta_i64("num_classes"), channels = ck.meta_i64("in_channels");
  BASIN_CHECK(out.dataset.num_classes == classes && out.dataset.channels() == channels, "dataset '", out.spec,
              "' has ", out.dataset.num_classes, " classes and ", out.dataset.channels(),
              " channels; the model of '", ck.path, "' expects ", classes, " and ", channels);
  return out;
}

}  // namespace basin::apps

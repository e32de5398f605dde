// What the apps that read a finished run need from its checkpoint: the model
// rebuilt from the metadata with the saved weights, and the dataset split
// normalised as the run normalised it (or as --dataset/--mean/--std say).
// Used by `basin probe` and by `basin eval` for checkpoints (eval's plain
// state_dicts carry no metadata and take their dataset from the flags).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/checkpoint.h"
#include "apps/flags.h"
#include "data/dataset.h"
#include "nn/resnet.h"

namespace basin::apps {

// The checkpoint's model (architecture, width, classes, channels from its
// metadata) with its state dict loaded, on the CPU. A state dict of another
// model is an error naming the checkpoint.
std::shared_ptr<nn::ResNet> model_from_checkpoint(const Checkpoint& ck);

// True when `a` and `b` hold the same architecture (model, width, classes,
// channels); else `why` says which differs.
bool same_architecture(const Checkpoint& a, const Checkpoint& b, std::string* why);

struct CheckpointData {
  data::Dataset dataset;
  std::string spec;                // the --dataset value used (the run's when not given)
  std::vector<double> mean, std;   // the normalisation constants to use
  bool constants_from_flags = false;
};

// The split of --dataset (default: the run's) with the flags of
// declare_dataset_flags; the run's folder conversions apply to folder datasets
// unless flags override them. Checks classes and channels against the model.
CheckpointData load_checkpoint_dataset(const Checkpoint& ck, const Flags& flags, const std::string& split,
                                       int64_t limit);

}  // namespace basin::apps

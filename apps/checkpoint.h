// The training checkpoint: ONE safetensors file holding the model's state_dict
// ("model.<name>"), the optimizer's whole state (its own names: "optim.*",
// "tracker.*", ...), the trainer's tensors ("trainer.*") and, as metadata, the
// trainer's position, generator states, normalisation constants and the run's
// flags. Written to a temporary file and renamed (core/safetensors).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "nn/module.h"

namespace basin::apps {

constexpr const char* kCheckpointFile = "checkpoint.safetensors";
constexpr const char* kModelPrefix = "model.";
constexpr const char* kFlagPrefix = "flag.";  // metadata keys holding the run's flag values

struct Checkpoint {
  std::string path;
  NamedTensors tensors;
  std::map<std::string, std::string> metadata;

  // Metadata value; throws naming the file and the key when absent.
  const std::string& meta(const std::string& key) const;
  // Typed metadata; each throws naming the file, the key and the text when it
  // is not exactly one number in range.
  int64_t meta_i64(const std::string& key) const;
  uint64_t meta_u64(const std::string& key) const;
  double meta_f64(const std::string& key) const;
  bool has_meta(const std::string& key) const { return metadata.count(key) != 0; }
  // The tensor named `name`; throws naming the file when absent.
  const Tensor& tensor(const std::string& name) const;
  // The model's state_dict (prefix stripped).
  NamedTensors model_state() const;
  // Loads model_state() into `model`; one error naming the file once.
  void load_model(nn::Module& model) const;
  // Every tensor not under "model." (the optimizer's and trainer's state).
  NamedTensors other_tensors() const;
  // The run's flags as saved (flag name -> value).
  std::map<std::string, std::string> flags() const;
};

// `extra` holds the optimizer's and trainer's tensors (names must not start with "model.").
void save_checkpoint(const std::string& path, nn::Module& model, const NamedTensors& extra,
                     const std::map<std::string, std::string>& metadata);

// Validates the whole file (core/safetensors) and wraps any problem in an error
// that names the checkpoint.
Checkpoint load_checkpoint(const std::string& path);

// The model a weights file is meant for. Empty model, width 0, num_classes 0: not given.
struct ModelSpec {
  std::string model;
  double width = 0;
  int64_t num_classes = 0;
};

// Model weights from either kind of file (docs/state_dict.md, "Plain state_dict files"):
// a basin training checkpoint ("model.*" tensors, the model named in its metadata) or a
// plain PyTorch state_dict saved with safetensors (unprefixed names, no metadata needed).
struct ModelWeights {
  Checkpoint file;
  bool plain = false;        // a plain state_dict: the whole file is the model's state
  ModelSpec spec;            // resolved: from the metadata, or `given` for a plain file
  int64_t in_channels = 0;   // from the metadata; 0 for a plain file (the dataset decides)
  NamedTensors state;        // the model's state_dict, prefix stripped
};

// Reads `path` and resolves the model before anything is computed. A checkpoint's
// metadata wins, and a given field that disagrees with it is refused naming the flag
// and both values; a plain file needs every field of `given` and the refusal names
// the flags missing (--model, --width, --num-classes).
ModelWeights load_model_weights(const std::string& path, const ModelSpec& given);

// Copies the weights into `model`; one error names the file once and lists every
// tensor missing, unexpected or of another shape (expected vs found).
void load_weights_into(nn::Module& model, const ModelWeights& weights);

// `basin train --init`: loads the weights of `path` into `model`, built as `spec`
// (a checkpoint's model must agree with it). Returns the line to print.
std::string init_model(nn::Module& model, const std::string& path, const ModelSpec& spec);

// A directory holding kCheckpointFile, or the file itself.
std::string checkpoint_path(const std::string& dir_or_file);

// Comma-separated text of doubles and back (metadata values).
std::string join_doubles(const std::vector<double>& values);
std::vector<double> split_doubles(const std::string& text, const std::string& what);

}  // namespace basin::apps

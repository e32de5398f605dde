// The training checkpoint: ONE safetensors file holding the model's state_dict
// ("model.<name>"), the optimizer's whole state (its own names: "optim.*",
// "tracker.*", ...), the trainer's tensors ("trainer.*") and, as metadata, the
// trainer's position, generator states, normalisation constants and the run's
// flags. Written to a temporary file and renamed (core/safetensors).
#pragma once
#include <map>
#include <string>

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
  int64_t meta_i64(const std::string& key) const;
  double meta_f64(const std::string& key) const;
  bool has_meta(const std::string& key) const { return metadata.count(key) != 0; }
  // The tensor named `name`; throws naming the file when absent.
  const Tensor& tensor(const std::string& name) const;
  // The model's state_dict (prefix stripped).
  NamedTensors model_state() const;
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

// A directory holding kCheckpointFile, or the file itself.
std::string checkpoint_path(const std::string& dir_or_file);

// Comma-separated text of doubles and back (metadata values).
std::string join_doubles(const std::vector<double>& values);
std::vector<double> split_doubles(const std::string& text, const std::string& what);

}  // namespace basin::apps

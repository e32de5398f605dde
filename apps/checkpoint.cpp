// Training checkpoints; see checkpoint.h.
#include "apps/checkpoint.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "nn/state_dict.h"

namespace basin::apps {

const std::string& Checkpoint::meta(const std::string& key) const {
  const auto it = metadata.find(key);
  BASIN_CHECK(it != metadata.end(), "checkpoint '", path, "': metadata key '", key,
              "' is missing (not a basin training checkpoint, or from an incompatible version)");
  return it->second;
}

int64_t Checkpoint::meta_i64(const std::string& key) const {
  const std::string& v = meta(key);
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  // strtoll clamps an out-of-range value to LLONG_MAX/MIN and says so only in errno.
  BASIN_CHECK(!v.empty() && *end == '\0' && errno != ERANGE, "checkpoint '", path, "': metadata '", key,
              "' should be a 64-bit integer, got '", v, "'");
  return x;
}

uint64_t Checkpoint::meta_u64(const std::string& key) const {
  const std::string& v = meta(key);
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  // strtoull accepts leading blanks and a '-' (wrapping the value): generator
  // states are written as plain digits, so anything else is damage.
  BASIN_CHECK(!v.empty() && v[0] >= '0' && v[0] <= '9' && *end == '\0' && errno != ERANGE, "checkpoint '", path,
              "': metadata '", key, "' should be an unsigned 64-bit integer, got '", v, "'");
  return x;
}

double Checkpoint::meta_f64(const std::string& key) const {
  const std::string& v = meta(key);
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  BASIN_CHECK(!v.empty() && *end == '\0', "checkpoint '", path, "': metadata '", key,
              "' should be a number, got '", v, "'");
  return x;
}

const Tensor& Checkpoint::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  fail(cat("checkpoint '", path, "': tensor '", name, "' is missing"));
}

NamedTensors Checkpoint::model_state() const {
  NamedTensors out;
  const std::string prefix = kModelPrefix;
  for (const auto& [n, t] : tensors)
    if (n.rfind(prefix, 0) == 0) out.push_back({n.substr(prefix.size()), t});
  BASIN_CHECK(!out.empty(), "checkpoint '", path, "': no model tensors (names starting with '", prefix, "')");
  return out;
}

NamedTensors Checkpoint::other_tensors() const {
  NamedTensors out;
  for (const auto& [n, t] : tensors)
    if (n.rfind(kModelPrefix, 0) != 0) out.push_back({n, t});
  return out;
}

std::map<std::string, std::string> Checkpoint::flags() const {
  std::map<std::string, std::string> out;
  const std::string prefix = kFlagPrefix;
  for (const auto& [k, v] : metadata)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = v;
  return out;
}

void save_checkpoint(const std::string& path, nn::Module& model, const NamedTensors& extra,
                     const std::map<std::string, std::string>& metadata) {
  NamedTensors all;
  for (const auto& [n, t] : nn::state_dict(model)) all.push_back({kModelPrefix + n, t});
  for (const auto& [n, t] : extra) {
    BASIN_CHECK(n.rfind(kModelPrefix, 0) != 0, "save_checkpoint: extra tensor '", n,
                "' uses the reserved prefix '", kModelPrefix, "'");
    all.push_back({n, t});
  }
  safetensors::save(path, all, metadata);
}

Checkpoint load_checkpoint(const std::string& path) {
  BASIN_CHECK(std::filesystem::is_regular_file(path), "checkpoint '", path, "' not found");
  Checkpoint ck;
  ck.path = path;
  try {
    safetensors::File file = safetensors::load(path);
    ck.tensors = std::move(file.tensors);
    ck.metadata = std::move(file.metadata);
  } catch (const Error& e) {
    fail(cat("checkpoint '", path, "' is unreadable or corrupt: ", e.what()));
  }
  return ck;
}

namespace {

// "--model, --width and --num-classes" style list.
std::string join_flags(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return out;
}

}  // namespace

ModelWeights load_model_weights(const std::string& path, const ModelSpec& given) {
  ModelWeights w;
  w.file = load_checkpoint(path);
  const Checkpoint& ck = w.file;
  // A basin checkpoint names its model in the metadata; anything else is taken
  // as a plain state_dict, whatever metadata it carries.
  w.plain = !ck.has_meta("model");
  if (w.plain) {
    std::vector<std::string> missing;
    if (given.model.empty()) missing.push_back("--model");
    if (!(given.width > 0)) missing.push_back("--width");
    if (given.num_classes <= 0) missing.push_back("--num-classes");
    BASIN_CHECK(missing.empty(), "'", path,
                "' is a plain state_dict (no basin metadata naming its model): give ", join_flags(missing));
    w.spec = given;
    w.state = ck.tensors;
    return w;
  }
  w.spec.model = ck.meta("model");
  w.spec.width = ck.meta_f64("width");
  w.spec.num_classes = ck.meta_i64("num_classes");
  w.in_channels = ck.meta_i64("in_channels");
  BASIN_CHECK(given.model.empty() || given.model == w.spec.model, "checkpoint '", path, "' holds a ",
              w.spec.model, ", but --model says ", given.model);
  BASIN_CHECK(!(given.width > 0) || std::abs(given.width - w.spec.width) <= 1e-12 * w.spec.width,
              "checkpoint '", path, "' holds width ", w.spec.width, ", but --width says ", given.width);
  BASIN_CHECK(given.num_classes <= 0 || given.num_classes == w.spec.num_classes, "checkpoint '", path,
              "' holds a model with ", w.spec.num_classes, " classes, but ", given.num_classes,
              " are asked for (--num-classes, or the dataset's)");
  w.state = ck.model_state();
  return w;
}

void Checkpoint::load_model(nn::Module& model) const {
  const NamedTensors state = model_state();  // names the file itself when it fails
  try {
    nn::load_state_dict(model, state);
  } catch (const Error& e) {
    fail(cat("checkpoint '", path, "': ", e.what()));
  }
}

void load_weights_into(nn::Module& model, const ModelWeights& weights) {
  if (!weights.plain) return weights.file.load_model(model);
  try {
    nn::load_state_dict(model, weights.state);
  } catch (const Error& e) {
    bool prefixed = !weights.state.empty();
    for (const auto& entry : weights.state) prefixed = prefixed && entry.first.rfind(kModelPrefix, 0) == 0;
    fail(cat("plain state_dict '", weights.file.path, "' does not fit a ", weights.spec.model, " of width ",
             weights.spec.width, " with ", weights.spec.num_classes, " classes: ", e.what(),
             prefixed ? cat("\n(every name starts with '", kModelPrefix, "': strip that prefix)") : ""));
  }
}

std::string init_model(nn::Module& model, const std::string& path, const ModelSpec& spec) {
  const ModelWeights weights = load_model_weights(checkpoint_path(path), spec);
  load_weights_into(model, weights);
  return cat("initial weights: ", weights.state.size(), " tensors from ",
             weights.plain ? "plain state_dict '" : "checkpoint '", weights.file.path, "'");
}

std::string checkpoint_path(const std::string& dir_or_file) {
  if (std::filesystem::is_directory(dir_or_file))
    return (std::filesystem::path(dir_or_file) / kCheckpointFile).string();
  return dir_or_file;
}

std::string join_doubles(const std::vector<double>& values) {
  std::string out;
  char buf[32];
  for (size_t i = 0; i < values.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.17g", values[i]);
    out += (i ? "," : "") + std::string(buf);
  }
  return out;
}

std::vector<double> split_doubles(const std::string& text, const std::string& what) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    const double x = std::strtod(part.c_str(), &end);
    BASIN_CHECK(!part.empty() && *end == '\0', what, ": expected comma-separated numbers, got '", text, "'");
    out.push_back(x);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace basin::apps

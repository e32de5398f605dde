// Training checkpoints; see checkpoint.h.
#include "apps/checkpoint.h"

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
  const long long x = std::strtoll(v.c_str(), &end, 10);
  BASIN_CHECK(!v.empty() && *end == '\0', "checkpoint '", path, "': metadata '", key,
              "' should be an integer, got '", v, "'");
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

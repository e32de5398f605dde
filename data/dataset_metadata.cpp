// basin-dataset.json reader and writer. The schema is checked strictly, and
// the same consistency checks run before writing and after reading, so a file
// basin writes is always one basin reads.
#include "data/dataset_metadata.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "data/file_io.h"

namespace basin::data {
namespace {

[[noreturn]] void field_error(const std::string& path, const std::string& field, const std::string& problem) {
  fail(cat(path, ": field '", field, "': ", problem));
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string join_numbers(const std::vector<double>& values) {
  std::string out;
  for (double v : values) out += (out.empty() ? "" : ", ") + number(v);
  return out;
}

// The semantic checks shared by the writer and the reader.
void validate(const DatasetMetadata& m, const std::string& path) {
  if (m.name.empty()) field_error(path, "name", "must not be empty");
  if (m.channels != 1 && m.channels != 3) field_error(path, "image.channels", cat("must be 1 or 3, got ", m.channels));
  if (m.height <= 0 || m.width <= 0)
    field_error(path, "image", cat("height and width must be positive, got ", m.height, "x", m.width));
  const size_t classes = m.class_names.size();
  if (classes < 1 || classes > 256)
    field_error(path, "class_names", cat("needs 1 to 256 names (labels are one byte), got ", classes));
  std::set<std::string> seen;
  for (size_t c = 0; c < classes; ++c) {
    if (m.class_names[c].empty()) field_error(path, cat("class_names[", c, "]"), "must not be empty");
    if (!seen.insert(m.class_names[c]).second)
      field_error(path, cat("class_names[", c, "]"), cat("'", m.class_names[c], "' appears twice"));
  }
  for (const char* field : {"mean", "std"}) {
    const std::vector<double>& v = std::string(field) == "mean" ? m.mean : m.std;
    if (v.size() != static_cast<size_t>(m.channels))
      field_error(path, field, cat("needs one value per channel (", m.channels, "), got ", v.size()));
    for (size_t c = 0; c < v.size(); ++c) {
      const bool ok = std::string(field) == "mean" ? (v[c] >= 0 && v[c] <= 1) : (v[c] > 0 && std::isfinite(v[c]));
      if (!ok)
        field_error(path, cat(field, "[", c, "]"),
                    cat(number(v[c]), " is outside ", std::string(field) == "mean" ? "[0, 1]" : "(0, inf)",
                        " (pixel units are [0, 1])"));
    }
  }
  std::set<int64_t> sources;
  for (size_t k = 0; k < m.asym_noise.size(); ++k) {
    const auto [from, to] = m.asym_noise[k];
    const std::string field = cat("asym_noise[", k, "]");
    if (from < 0 || to < 0 || from >= int64_t(classes) || to >= int64_t(classes))
      field_error(path, field, cat("[", from, ", ", to, "]: class indices must be in [0, ", classes, ")"));
    if (from == to) field_error(path, field, cat("[", from, ", ", to, "]: a class cannot flip to itself"));
    if (!sources.insert(from).second)
      field_error(path, field, cat("class ", from, " is given a second target (one target per class)"));
  }
  if (m.train_samples < -1 || m.test_samples < -1) field_error(path, "samples", "counts must be >= 0");
}

int image_int(const json::Value& image, const char* key) {
  const json::Value& v = image.at(key);
  const int64_t x = v.as_int64();
  if (x < 0 || x > 1 << 20) v.error(cat(x, " is out of range"));
  return static_cast<int>(x);
}

std::string pairs_text(const DatasetMetadata& m) {
  if (m.asym_noise.empty()) return "none";
  std::string out;
  for (const auto& [from, to] : m.asym_noise)
    out += (out.empty() ? "" : ", ") + m.class_names[from] + "->" + m.class_names[to];
  return out;
}

}  // namespace

std::vector<int64_t> DatasetMetadata::asym_targets() const {
  std::vector<int64_t> t(class_names.size(), -1);
  for (const auto& [from, to] : asym_noise) t[from] = to;
  return t;
}

void write_dataset_metadata(const std::string& path, const DatasetMetadata& m) {
  validate(m, path);
  std::ostringstream o;
  auto strings = [](const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v) out += (out.empty() ? "" : ", ") + json::quote(s);
    return "[" + out + "]";
  };
  o << "{\n";
  o << "  \"format\": " << json::quote(kDatasetMetadataFormat) << ",\n";
  o << "  \"name\": " << json::quote(m.name) << ",\n";
  o << "  \"source\": " << json::quote(m.source) << ",\n";
  o << "  \"layout\": \"cifar10-binary\",\n";
  o << "  \"transform\": " << json::quote(m.transform) << ",\n";
  o << "  \"image\": {\"height\": " << m.height << ", \"width\": " << m.width << ", \"channels\": " << m.channels
    << "},\n";
  if (m.original_channels > 0)
    o << "  \"original_image\": {\"height\": " << m.original_height << ", \"width\": " << m.original_width
      << ", \"channels\": " << m.original_channels << "},\n";
  if (m.train_samples >= 0 || m.test_samples >= 0)
    o << "  \"samples\": {\"train\": " << m.train_samples << ", \"test\": " << m.test_samples << "},\n";
  o << "  \"class_names\": " << strings(m.class_names) << ",\n";
  o << "  \"mean\": [" << join_numbers(m.mean) << "],\n";
  o << "  \"std\": [" << join_numbers(m.std) << "],\n";
  o << "  \"normalization_source\": " << json::quote(m.normalization_source) << ",\n";
  o << "  \"asym_noise\": ";
  if (m.asym_noise.empty()) {
    o << "null";
  } else {
    o << "[";
    for (size_t k = 0; k < m.asym_noise.size(); ++k)
      o << (k ? ", " : "") << "[" << m.asym_noise[k].first << ", " << m.asym_noise[k].second << "]";
    o << "]";
  }
  o << "\n}\n";
  const std::string text = o.str();
  write_file_atomic(path, std::vector<uint8_t>(text.begin(), text.end()));
}

DatasetMetadata read_dataset_metadata(const std::string& path) {
  const json::Value root = json::parse_file(path);
  if (!root.is_object()) root.error(cat("expected an object, got ", json::Value::kind_name(root.kind())));
  root.check_only_fields({"format", "name", "source", "layout", "transform", "image", "original_image", "samples",
                          "class_names", "mean", "std", "normalization_source", "asym_noise"});
  const json::Value& format = root.at("format");
  if (format.as_string() != kDatasetMetadataFormat)
    format.error(cat("'", format.as_string(), "' is not a format this basin reads (expected '",
                     kDatasetMetadataFormat, "')"));
  const json::Value& layout = root.at("layout");
  if (layout.as_string() != "cifar10-binary")
    layout.error(cat("'", layout.as_string(), "' is not a layout this basin reads (expected 'cifar10-binary')"));
  DatasetMetadata m;
  m.name = root.at("name").as_string();
  m.source = root.at("source").as_string();
  if (const json::Value* t = root.find("transform")) m.transform = t->as_string();
  const json::Value& image = root.at("image");
  image.check_only_fields({"height", "width", "channels"});
  m.height = image_int(image, "height");
  m.width = image_int(image, "width");
  m.channels = image_int(image, "channels");
  if (const json::Value* orig = root.find("original_image")) {
    orig->check_only_fields({"height", "width", "channels"});
    m.original_height = image_int(*orig, "height");
    m.original_width = image_int(*orig, "width");
    m.original_channels = image_int(*orig, "channels");
  }
  if (const json::Value* samples = root.find("samples")) {
    samples->check_only_fields({"train", "test"});
    m.train_samples = samples->at("train").as_int64();
    m.test_samples = samples->at("test").as_int64();
  }
  m.class_names = root.at("class_names").as_string_array();
  m.mean = root.at("mean").as_double_array();
  m.std = root.at("std").as_double_array();
  if (const json::Value* ns = root.find("normalization_source")) m.normalization_source = ns->as_string();
  const json::Value& asym = root.at("asym_noise");
  if (!asym.is_null()) {
    if (!asym.is_array() || asym.size() == 0)
      asym.error("expected null (no mapping) or a non-empty array of [clean, noisy] class pairs");
    for (const json::Value& pair : asym.as_array()) {
      const std::vector<int64_t> p = pair.as_int64_array();
      if (p.size() != 2) pair.error(cat("expected a [clean, noisy] pair of class indices, got ", p.size(), " values"));
      m.asym_noise.emplace_back(p[0], p[1]);
    }
  }
  validate(m, path);
  return m;
}

void apply_dataset_metadata(Dataset& ds, const DatasetMetadata& m, const std::string& path,
                            const std::string& split) {
  if (ds.channels() != m.channels || ds.height() != m.height || ds.width() != m.width)
    field_error(path, "image",
                cat("says ", m.channels, "x", m.height, "x", m.width, " but the data files hold ", ds.channels(), "x",
                    ds.height(), "x", ds.width(), " images"));
  const int64_t expected = split == "train" ? m.train_samples : m.test_samples;
  if (expected >= 0 && expected != ds.size())
    field_error(path, "samples." + split,
                cat("says ", expected, " images but the ", split, " files hold ", ds.size(),
                    " (is the metadata left over from another conversion?)"));
  const int64_t classes = static_cast<int64_t>(m.class_names.size());
  const int64_t* y = ds.labels.data<int64_t>();
  for (int64_t i = 0; i < ds.size(); ++i)
    if (y[i] >= classes)
      field_error(path, "class_names",
                  cat("names ", classes, " classes but sample ", i, " of the ", split, " files has label ", y[i]));
  ds.name = m.name;
  ds.num_classes = static_cast<int>(classes);
  ds.class_names = m.class_names;
  ds.mean = m.mean;
  ds.std = m.std;
  ds.asym_targets = m.asym_targets();
  if (m.asym_noise.empty()) ds.asym_targets = std::vector<int64_t>{};
  ds.provenance = cat("dataset metadata ", path, ": ", m.name, " from ", m.source, "; ", classes, " classes (",
                      m.class_names.front(), classes > 1 ? ", ..., " + m.class_names.back() : std::string(),
                      "); mean [", join_numbers(m.mean), "], std [", join_numbers(m.std), "]; asym mapping ",
                      pairs_text(m));
}

}  // namespace basin::data

// Label-noise protocols. Every random decision is a host draw from a
// basin::Generator seeded with the caller's seed (or, for inst's weight tensor,
// a Philox value indexed by position), so the noisy labels are a pure function
// of (clean labels, spec, seed) and can be regenerated instead of stored.
#include "data/noise.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/ops.h"
#include "core/philox.h"
#include "core/rng.h"
#include "data/file_io.h"

namespace basin::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Standard normal from Philox counter `counter` (the Box-Muller form that
// Backend::fill_normal documents), so W[y] can be generated class by class.
double philox_normal(uint64_t seed, uint64_t counter) {
  const Philox4 r = philox4x32(seed, counter);
  const double u1 = philox_uniform_f64(r.v[0], r.v[1]);
  const double u2 = philox_uniform_f64(r.v[2], r.v[3]);
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * kPi * u2);
}

// Separate stream for inst's weights so they do not depend on N.
uint64_t weight_seed(uint64_t seed) { return seed * 0x9E3779B97F4A7C15ull + 0x1d57c0ffeeull; }

void flip_with_targets(const std::vector<int64_t>& clean, const std::vector<int64_t>& targets, double rate,
                       Generator& gen, std::vector<int64_t>& noisy) {
  for (size_t i = 0; i < clean.size(); ++i) {
    // One draw per sample whatever its class keeps the stream position simple.
    const double u = gen.uniform();
    const int64_t t = targets[clean[i]];
    if (t >= 0 && u < rate) noisy[i] = t;
  }
}

void instance_noise(const Dataset& ds, const std::vector<int64_t>& clean, double rate, uint64_t seed,
                    std::vector<int64_t>& noisy) {
  const int64_t n = ds.size(), classes = ds.num_classes;
  BASIN_CHECK(classes >= 2, "inst noise needs at least 2 classes, dataset '", ds.name, "' has ", classes);
  BASIN_CHECK(ds.mean.size() == static_cast<size_t>(ds.channels()), "inst noise: dataset '", ds.name,
              "' has no normalisation constants");
  const int64_t ch = ds.channels(), plane = ds.height() * ds.width(), dim = ch * plane;
  Generator gen(seed);
  std::vector<double> q(n), u(n);
  for (int64_t i = 0; i < n; ++i) q[i] = std::clamp(rate + 0.1 * gen.normal(), 0.0, 1.0);
  for (int64_t i = 0; i < n; ++i) u[i] = gen.uniform();
  const uint64_t wseed = weight_seed(seed);
  const uint8_t* px = ds.images.data<uint8_t>();
  std::vector<double> inv_std(ch);
  for (int64_t c = 0; c < ch; ++c) inv_std[c] = 1.0 / ds.std[c];
  for (int64_t y = 0; y < classes; ++y) {
    std::vector<int64_t> members;
    for (int64_t i = 0; i < n; ++i)
      if (clean[i] == y) members.push_back(i);
    if (members.empty()) continue;
    const int64_t count = static_cast<int64_t>(members.size());
    // W[y] is D x C; entry (d, j) is Philox counter (y*D + d)*C + j, so it
    // can be generated for one class at a time (CIFAR-100's full W is 31M values).
    Tensor w = empty({dim, classes}, DType::F64);
    double* wp = w.data<double>();
#pragma omp parallel for schedule(static)
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t j = 0; j < classes; ++j)
        wp[d * classes + j] = philox_normal(wseed, static_cast<uint64_t>((y * dim + d) * classes + j));
    // The normalised images of the class, one row each; a = X W[y] by GEMM.
    Tensor x = empty({count, dim}, DType::F64);
    double* xp = x.data<double>();
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < count; ++m) {
      const uint8_t* img = px + members[m] * dim;
      double* row = xp + m * dim;
      for (int64_t c = 0; c < ch; ++c)
        for (int64_t k = 0; k < plane; ++k)
          row[c * plane + k] = (img[c * plane + k] / 255.0 - ds.mean[c]) * inv_std[c];
    }
    const Tensor logits = matmul(x, w).contiguous();
    const double* lp = logits.data<double>();
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < count; ++m) {
      const int64_t i = members[m];
      std::vector<double> a(lp + m * classes, lp + (m + 1) * classes);
      // softmax over j != y (a_y = -inf), scaled by q_i; p_y = 1 - q_i.
      double top = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < classes; ++j)
        if (j != y) top = std::max(top, a[j]);
      double total = 0;
      for (int64_t j = 0; j < classes; ++j) {
        a[j] = j == y ? 0.0 : std::exp(a[j] - top);
        total += a[j];
      }
      std::vector<double> p(classes);
      for (int64_t j = 0; j < classes; ++j) p[j] = j == y ? 1.0 - q[i] : q[i] * a[j] / total;
      double cumulative = 0;
      int64_t pick = -1;
      for (int64_t j = 0; j < classes; ++j) {
        cumulative += p[j];
        if (u[i] < cumulative) {
          pick = j;
          break;
        }
      }
      if (pick < 0) {  // rounding left u above the last partial sum: last class with mass
        for (int64_t j = classes - 1; j >= 0; --j)
          if (p[j] > 0) {
            pick = j;
            break;
          }
      }
      noisy[i] = pick;
    }
  }
}

void read_label_file(const std::string& path, const Dataset& ds, std::vector<int64_t>& noisy) {
  std::ifstream in(path);
  BASIN_CHECK(in.is_open(), "noise file '", path, "' cannot be opened");
  std::string line;
  int64_t line_no = 0;
  size_t count = 0;
  int64_t blank_after = 0;  // a blank line is only allowed at the very end
  while (std::getline(in, line)) {
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) {
      if (blank_after == 0) blank_after = line_no;
      continue;
    }
    BASIN_CHECK(blank_after == 0, "noise file '", path, "', line ", blank_after,
                ": empty line before the end of the file");
    const std::string text = line.substr(start);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    BASIN_CHECK(end != text.c_str() && *end == '\0' && errno == 0, "noise file '", path, "', line ", line_no,
                ": '", text, "' is not an integer label");
    BASIN_CHECK(v >= 0 && v < ds.num_classes, "noise file '", path, "', line ", line_no, ": label ", v,
                " out of range [0, ", ds.num_classes, ")");
    BASIN_CHECK(count < noisy.size(), "noise file '", path, "', line ", line_no, ": more labels than the ",
                noisy.size(), " samples of dataset '", ds.name, "'");
    noisy[count++] = v;
  }
  BASIN_CHECK(count == noisy.size(), "noise file '", path, "' has ", count, " labels (ends at line ", line_no,
              "), dataset '", ds.name, "' has ", noisy.size(), " samples");
}

}  // namespace

const char* noise_spec_forms() {
  return "none, sym:R, symflip:R, asym:R, asym-super:R, pair:R, inst:R (R a rate in [0, 1]), file:PATH";
}

NoiseSpec parse_noise_spec(const std::string& spec) {
  NoiseSpec out;
  if (spec == "none" || spec.empty()) {
    out.kind = "none";
    return out;
  }
  const size_t colon = spec.find(':');
  const std::string bad = cat("bad label-noise spec '", spec, "'; accepted forms: ", noise_spec_forms());
  BASIN_CHECK(colon != std::string::npos, bad);
  out.kind = spec.substr(0, colon);
  const std::string arg = spec.substr(colon + 1);
  if (out.kind == "file") {
    BASIN_CHECK(!arg.empty(), bad, " (file: needs a path)");
    out.path = arg;
    return out;
  }
  static const std::set<std::string> rate_kinds = {"sym", "symflip", "asym", "asym-super", "pair", "inst"};
  BASIN_CHECK(rate_kinds.count(out.kind) == 1, bad);
  char* end = nullptr;
  out.rate = std::strtod(arg.c_str(), &end);
  BASIN_CHECK(!arg.empty() && end != arg.c_str() && *end == '\0', bad, " ('", arg, "' is not a number)");
  BASIN_CHECK(std::isfinite(out.rate) && out.rate >= 0.0 && out.rate <= 1.0, bad, " (rate ", arg,
              " outside [0, 1])");
  return out;
}

std::vector<int64_t> asym_targets(const std::string& dataset_name, int num_classes) {
  std::vector<int64_t> t(num_classes, -1);
  if (dataset_name == "cifar10") {
    BASIN_CHECK(num_classes == 10, "asym noise: cifar10 needs 10 classes, got ", num_classes);
    t[9] = 1;  // truck -> automobile
    t[2] = 0;  // bird -> airplane
    t[4] = 7;  // deer -> horse
    t[3] = 5;  // cat -> dog
    t[5] = 3;  // dog -> cat
  } else if (dataset_name == "fashion-mnist") {
    // basin's own analogue of the CIFAR-10 mapping (visually close classes).
    BASIN_CHECK(num_classes == 10, "asym noise: fashion-mnist needs 10 classes, got ", num_classes);
    t[6] = 0;  // shirt -> T-shirt/top
    t[2] = 4;  // pullover -> coat
    t[5] = 7;  // sandal -> sneaker
    t[9] = 7;  // ankle boot -> sneaker
  } else if (dataset_name == "cifar100") {
    BASIN_CHECK(num_classes == 100, "asym noise: cifar100 needs 100 classes, got ", num_classes);
    for (int c = 0; c < 100; ++c) t[c] = (c / 5) * 5 + (c % 5 + 1) % 5;
  } else {
    fail(cat("asym noise has a class mapping for cifar10, cifar100 and fashion-mnist only; dataset '",
             dataset_name, "' has none (use sym, symflip, pair, inst or file:PATH)"));
  }
  return t;
}

std::vector<int64_t> dataset_asym_targets(const Dataset& ds) {
  if (!ds.asym_targets) return asym_targets(ds.name, ds.num_classes);
  const std::vector<int64_t>& t = *ds.asym_targets;
  BASIN_CHECK(!t.empty(), "asym noise: dataset '", ds.name, "' (", ds.source,
              ") has no asym class mapping: its basin-dataset.json sets \"asym_noise\" to null "
              "(use sym, symflip, pair, inst or file:PATH, or add [clean, noisy] pairs there)");
  BASIN_CHECK(t.size() == static_cast<size_t>(ds.num_classes), "asym noise: dataset '", ds.name, "' maps ",
              t.size(), " classes, it has ", ds.num_classes);
  for (size_t c = 0; c < t.size(); ++c)
    BASIN_CHECK(t[c] >= -1 && t[c] < ds.num_classes, "asym noise: dataset '", ds.name, "' maps class ", c,
                " to ", t[c], ", outside [0, ", ds.num_classes, ")");
  return t;
}

std::vector<int64_t> superclass_targets(const Dataset& ds) {
  BASIN_CHECK(ds.coarse_labels.defined(), "asym-super noise needs coarse labels (CIFAR-100's superclasses); dataset '",
              ds.name, "' has none");
  const std::vector<int64_t> fine = ds.labels.to_vector<int64_t>();
  const std::vector<int64_t> coarse = ds.coarse_labels.to_vector<int64_t>();
  std::vector<int64_t> coarse_of(ds.num_classes, -1);
  for (size_t i = 0; i < fine.size(); ++i) {
    int64_t& c = coarse_of[fine[i]];
    BASIN_CHECK(c == -1 || c == coarse[i], "asym-super noise: fine class ", fine[i], " appears with coarse labels ", c,
                " and ", coarse[i], " (sample ", i, ")");
    c = coarse[i];
  }
  std::map<int64_t, std::vector<int64_t>> members;
  for (int64_t f = 0; f < ds.num_classes; ++f)
    if (coarse_of[f] >= 0) members[coarse_of[f]].push_back(f);
  std::vector<int64_t> t(ds.num_classes, -1);
  for (const auto& [coarse_class, fs] : members) {
    (void)coarse_class;
    if (fs.size() < 2) continue;
    for (size_t k = 0; k < fs.size(); ++k) t[fs[k]] = fs[(k + 1) % fs.size()];
  }
  return t;
}

NoisyLabels apply_noise(const Dataset& ds, const std::string& spec_text, uint64_t seed) {
  const NoiseSpec spec = parse_noise_spec(spec_text);
  BASIN_CHECK(ds.labels.defined() && ds.labels.dtype() == DType::I64 && ds.labels.dim() == 1,
              "apply_noise: dataset '", ds.name, "' has no i64 [N] labels");
  const int64_t n = ds.size();
  const int64_t classes = ds.num_classes;
  BASIN_CHECK(classes >= 1, "apply_noise: dataset '", ds.name, "' has no classes");
  const std::vector<int64_t> clean = ds.labels.to_vector<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    BASIN_CHECK(clean[i] >= 0 && clean[i] < classes, "apply_noise: clean label ", clean[i], " of sample ", i,
                " out of range [0, ", classes, ")");
  std::vector<int64_t> noisy = clean;
  Generator gen(seed);
  const double r = spec.rate;
  if (spec.kind == "none") {
  } else if (spec.kind == "sym") {
    // Exactly floor(r*N) distinct samples, chosen by a partial Fisher-Yates shuffle.
    const int64_t m = static_cast<int64_t>(std::floor(r * static_cast<double>(n)));
    std::vector<int64_t> order(n);
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    for (int64_t k = 0; k < m; ++k) std::swap(order[k], order[k + gen.randint(n - k)]);
    for (int64_t k = 0; k < m; ++k) noisy[order[k]] = gen.randint(classes);
  } else if (spec.kind == "symflip") {
    BASIN_CHECK(classes >= 2, "symflip noise needs at least 2 classes");
    for (int64_t i = 0; i < n; ++i) {
      const double u = gen.uniform();
      const int64_t shift = 1 + gen.randint(classes - 1);
      if (u < r) noisy[i] = (clean[i] + shift) % classes;
    }
  } else if (spec.kind == "asym") {
    flip_with_targets(clean, dataset_asym_targets(ds), r, gen, noisy);
  } else if (spec.kind == "asym-super") {
    flip_with_targets(clean, superclass_targets(ds), r, gen, noisy);
  } else if (spec.kind == "pair") {
    std::vector<int64_t> targets(classes);
    for (int64_t c = 0; c < classes; ++c) targets[c] = (c + 1) % classes;
    flip_with_targets(clean, targets, r, gen, noisy);
  } else if (spec.kind == "inst") {
    instance_noise(ds, clean, r, seed, noisy);
  } else if (spec.kind == "file") {
    read_label_file(spec.path, ds, noisy);
  }

  NoisyLabels out;
  out.spec = spec_text.empty() ? "none" : spec_text;
  out.seed = seed;
  out.num_classes = static_cast<int>(classes);
  out.transition.assign(static_cast<size_t>(classes * classes), 0);
  out.noisy = empty({n}, DType::I64);
  int64_t* dst = out.noisy.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = noisy[i];
    ++out.transition[clean[i] * classes + noisy[i]];
    if (noisy[i] != clean[i]) ++out.changed;
  }
  out.realised_rate = n > 0 ? static_cast<double>(out.changed) / static_cast<double>(n) : 0.0;
  return out;
}

std::string format_noise_report(const NoisyLabels& noise, const std::vector<std::string>& class_names) {
  const int64_t c = noise.num_classes;
  std::ostringstream out;
  int64_t total = 0;
  for (int64_t v : noise.transition) total += v;
  out << "label noise " << noise.spec << " (seed " << noise.seed << "): realised rate " << std::fixed
      << std::setprecision(4) << noise.realised_rate << " (" << noise.changed << " of " << total
      << " labels changed)\n";
  auto name = [&](int64_t k) {
    return static_cast<size_t>(k) < class_names.size() ? class_names[k] : std::to_string(k);
  };
  if (c <= 20) {
    // Rows are labelled with index and name, columns with the index alone (names would not fit).
    size_t label_width = std::string("clean \\ noisy").size();
    for (int64_t i = 0; i < c; ++i) label_width = std::max(label_width, 4 + name(i).size());
    out << "transition counts (rows: clean label, columns: noisy label):\n"
        << std::left << std::setw(static_cast<int>(label_width)) << "clean \\ noisy" << std::right;
    for (int64_t j = 0; j < c; ++j) out << ' ' << std::setw(6) << j;
    out << '\n';
    for (int64_t i = 0; i < c; ++i) {
      out << std::setw(3) << i << ' ' << std::left << std::setw(static_cast<int>(label_width - 4)) << name(i)
          << std::right;
      for (int64_t j = 0; j < c; ++j) out << ' ' << std::setw(6) << noise.transition[i * c + j];
      out << '\n';
    }
  } else {
    // Listing every pair of a 100-class matrix would drown the log: the largest 30.
    std::vector<std::pair<int64_t, int64_t>> pairs;  // (count, flat index)
    for (int64_t i = 0; i < c; ++i)
      for (int64_t j = 0; j < c; ++j)
        if (i != j && noise.transition[i * c + j] > 0) pairs.emplace_back(noise.transition[i * c + j], i * c + j);
    std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    out << "most frequent changes (clean -> noisy: count), " << pairs.size() << " pairs in all:\n";
    for (size_t k = 0; k < pairs.size() && k < 30; ++k)
      out << "  " << name(pairs[k].second / c) << " -> " << name(pairs[k].second % c) << ": " << pairs[k].first
          << '\n';
  }
  return out.str();
}

void write_label_file(const std::string& path, const Tensor& labels) {
  BASIN_CHECK(labels.defined() && labels.dtype() == DType::I64 && labels.dim() == 1,
              "write_label_file '", path, "': labels must be i64 [N]");
  std::ostringstream text;
  for (int64_t v : labels.to_vector<int64_t>()) text << v << '\n';
  const std::string s = text.str();
  write_file_atomic(path, std::vector<uint8_t>(s.begin(), s.end()));
}

}  // namespace basin::data

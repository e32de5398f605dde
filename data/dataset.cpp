// Dataset helpers: subsets, consistency checks, normalisation constants.
// Everything here runs on host memory; datasets are CPU tensors until the
// batch iterator moves them.
#include "data/dataset.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace basin::data {

void Dataset::validate() const {
  BASIN_CHECK(images.defined() && labels.defined(), "dataset '", name, "': images or labels missing");
  BASIN_CHECK(images.dtype() == DType::U8 && images.dim() == 4, "dataset '", name,
              "': images must be u8 [N, C, H, W], got ", images.str());
  BASIN_CHECK(images.device().is_cpu() && images.is_contiguous(), "dataset '", name,
              "': images must be a contiguous CPU tensor, got ", images.str());
  BASIN_CHECK(labels.dtype() == DType::I64 && labels.dim() == 1 && labels.numel() == images.size(0),
              "dataset '", name, "': labels must be i64 [", images.size(0), "], got ", labels.str());
  if (coarse_labels.defined())
    BASIN_CHECK(coarse_labels.dtype() == DType::I64 && coarse_labels.numel() == labels.numel(),
                "dataset '", name, "': coarse labels must be i64 [", labels.numel(), "], got ",
                coarse_labels.str());
  BASIN_CHECK(num_classes > 0, "dataset '", name, "': num_classes must be positive");
  const int64_t* y = labels.data<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    BASIN_CHECK(y[i] >= 0 && y[i] < num_classes, "dataset '", name, "': label ", y[i],
                " of sample ", i, " out of range [0, ", num_classes, ")");
  BASIN_CHECK(mean.size() == static_cast<size_t>(channels()) && std.size() == mean.size(),
              "dataset '", name, "': normalisation has ", mean.size(), " means and ", std.size(),
              " stds for ", channels(), " channels");
}

Dataset Dataset::subset(const std::vector<int64_t>& indices) const {
  const int64_t n = size();
  const int64_t n_out = static_cast<int64_t>(indices.size());
  const Shape& shape = images.shape();
  const int64_t sample_bytes = shape[1] * shape[2] * shape[3];
  Dataset out = *this;
  out.images = empty({n_out, shape[1], shape[2], shape[3]}, DType::U8);
  out.labels = empty({n_out}, DType::I64);
  const uint8_t* src = images.data<uint8_t>();
  uint8_t* dst = out.images.data<uint8_t>();
  const int64_t* y = labels.data<int64_t>();
  int64_t* y_out = out.labels.data<int64_t>();
  for (int64_t i = 0; i < n_out; ++i) {
    const int64_t k = indices[i];
    BASIN_CHECK(k >= 0 && k < n, "dataset '", name, "' subset: index ", k, " (position ", i,
                ") out of range [0, ", n, ")");
    std::memcpy(dst + i * sample_bytes, src + k * sample_bytes, sample_bytes);
    y_out[i] = y[k];
  }
  if (coarse_labels.defined()) {
    out.coarse_labels = empty({n_out}, DType::I64);
    const int64_t* c = coarse_labels.data<int64_t>();
    int64_t* c_out = out.coarse_labels.data<int64_t>();
    for (int64_t i = 0; i < n_out; ++i) c_out[i] = c[indices[i]];
  }
  return out;
}

bool has_standard_normalization(const std::string& dataset_name) {
  return dataset_name == "cifar10" || dataset_name == "cifar100" || dataset_name == "fashion-mnist";
}

Normalization standard_normalization(const std::string& dataset_name) {
  if (dataset_name == "cifar10") return {{0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}};
  if (dataset_name == "cifar100") return {{0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762}};
  if (dataset_name == "fashion-mnist") return {{0.2860}, {0.3530}};
  fail(cat("no standard normalisation for dataset '", dataset_name,
           "' (known: cifar10, cifar100, fashion-mnist); compute it from the data"));
}

Normalization compute_normalization(const Tensor& u8_images) {
  BASIN_CHECK(u8_images.dtype() == DType::U8 && u8_images.dim() == 4 && u8_images.is_contiguous() &&
                  u8_images.device().is_cpu(),
              "compute_normalization: expected contiguous CPU u8 [N, C, H, W], got ", u8_images.str());
  const int64_t n = u8_images.size(0), c = u8_images.size(1);
  const int64_t plane = u8_images.size(2) * u8_images.size(3);
  BASIN_CHECK(n > 0 && plane > 0, "compute_normalization: empty image set ", u8_images.str());
  const uint8_t* px = u8_images.data<uint8_t>();
  Normalization out;
  for (int64_t ch = 0; ch < c; ++ch) {
    // Integer histogram: exact and order-independent, so the result is reproducible.
    std::vector<int64_t> histogram(256, 0);
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = px + (i * c + ch) * plane;
      for (int64_t k = 0; k < plane; ++k) ++histogram[p[k]];
    }
    double count = 0, sum = 0, sum_sq = 0;
    for (int v = 0; v < 256; ++v) {
      const double x = v / 255.0;
      count += histogram[v];
      sum += histogram[v] * x;
      sum_sq += histogram[v] * x * x;
    }
    const double m = sum / count;
    const double var = std::max(0.0, sum_sq / count - m * m);
    out.mean.push_back(m);
    // A constant channel would divide by zero when normalising.
    out.std.push_back(var > 1e-12 ? std::sqrt(var) : 1.0);
  }
  return out;
}

std::vector<int64_t> class_counts(const Tensor& labels, int num_classes) {
  std::vector<int64_t> counts(num_classes, 0);
  const std::vector<int64_t> y = labels.to_vector<int64_t>();
  for (int64_t v : y) {
    BASIN_CHECK(v >= 0 && v < num_classes, "class_counts: label ", v, " out of range [0, ",
                num_classes, ")");
    ++counts[v];
  }
  return counts;
}

}  // namespace basin::data

// Batch assembly. Shuffles are Fisher-Yates driven by a Generator whose seed
// mixes (seed, epoch): no state carries from one epoch to the next, which is
// what makes resuming at any (epoch, step) exact.
#include "data/batch_iterator.h"

#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"

namespace basin::data {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

Tensor i64_tensor(const std::vector<int64_t>& values) {
  Tensor t = empty({static_cast<int64_t>(values.size())}, DType::I64);
  if (!values.empty()) std::memcpy(t.data<int64_t>(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

}  // namespace

BatchIterator::BatchIterator(const Dataset& dataset, const Tensor& noisy_labels, const BatchIteratorOptions& options)
    : dataset_(dataset), options_(options) {
  BASIN_CHECK(dataset.images.defined() && dataset.images.dtype() == DType::U8 && dataset.images.dim() == 4 &&
                  dataset.images.device().is_cpu() && dataset.images.is_contiguous(),
              "BatchIterator: dataset '", dataset.name, "' images must be contiguous CPU u8 [N, C, H, W]");
  n_ = dataset.size();
  BASIN_CHECK(dataset.images.size(0) == n_, "BatchIterator: dataset '", dataset.name, "' has ",
              dataset.images.size(0), " images and ", n_, " labels");
  BASIN_CHECK(options.batch_size > 0, "BatchIterator: batch size must be positive, got ", options.batch_size);
  clean_ = dataset.labels.to_vector<int64_t>();
  if (noisy_labels.defined()) {
    BASIN_CHECK(noisy_labels.dtype() == DType::I64 && noisy_labels.numel() == n_, "BatchIterator: noisy labels ",
                noisy_labels.str(), " do not match the ", n_, " samples of dataset '", dataset.name, "'");
    noisy_ = noisy_labels.to_vector<int64_t>();
  } else {
    noisy_ = clean_;
  }
  if (options.images_on_device && !options.device.is_cpu()) device_images_ = dataset.images.to(options.device);
  seek(options.start_epoch, options.start_step);
}

BatchIterator::~BatchIterator() { drop_prefetch(); }

int64_t BatchIterator::steps_per_epoch() const {
  const int64_t b = options_.batch_size;
  return options_.drop_last ? n_ / b : (n_ + b - 1) / b;
}

void BatchIterator::seek(int64_t epoch, int64_t step) {
  BASIN_CHECK(epoch >= 0 && step >= 0 && step <= steps_per_epoch(), "BatchIterator: cannot seek to epoch ", epoch,
              " step ", step, " (", steps_per_epoch(), " steps per epoch)");
  epoch_ = epoch;
  step_ = step;
}

std::vector<int64_t> BatchIterator::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(n_);
  std::iota(order.begin(), order.end(), 0);
  if (!options_.shuffle) return order;
  Generator gen(splitmix64(options_.seed ^ splitmix64(static_cast<uint64_t>(epoch) + 0x5eedull)));
  for (int64_t i = n_ - 1; i > 0; --i) std::swap(order[i], order[gen.randint(i + 1)]);
  return order;
}

std::vector<int64_t> BatchIterator::batch_indices(int64_t epoch, int64_t step) {
  if (order_epoch_ != epoch) {
    order_ = epoch_order(epoch);
    order_epoch_ = epoch;
  }
  const int64_t start = step * options_.batch_size;
  const int64_t end = std::min(n_, start + options_.batch_size);
  return std::vector<int64_t>(order_.begin() + start, order_.begin() + end);
}

Batch BatchIterator::build(const std::vector<int64_t>& indices, int64_t epoch, int64_t step) const {
  const int64_t b = static_cast<int64_t>(indices.size());
  std::vector<int64_t> clean(b), noisy(b);
  for (int64_t i = 0; i < b; ++i) {
    clean[i] = clean_[indices[i]];
    noisy[i] = noisy_[indices[i]];
  }
  Batch batch;
  batch.epoch = epoch;
  batch.step = step;
  const Device device = options_.device;
  Tensor index_tensor = i64_tensor(indices);
  if (device_images_.defined()) {
    batch.indices = index_tensor.to(device);
    batch.images = index_select(device_images_, batch.indices);
  } else {
    const Shape& shape = dataset_.images.shape();
    const int64_t sample_bytes = shape[1] * shape[2] * shape[3];
    Tensor host = empty({b, shape[1], shape[2], shape[3]}, DType::U8);
    const uint8_t* src = dataset_.images.data<uint8_t>();
    uint8_t* dst = host.data<uint8_t>();
    for (int64_t i = 0; i < b; ++i) std::memcpy(dst + i * sample_bytes, src + indices[i] * sample_bytes, sample_bytes);
    batch.images = device.is_cpu() ? host : host.to(device);
    batch.indices = device.is_cpu() ? index_tensor : index_tensor.to(device);
  }
  batch.clean_labels = device.is_cpu() ? i64_tensor(clean) : i64_tensor(clean).to(device);
  batch.noisy_labels = device.is_cpu() ? i64_tensor(noisy) : i64_tensor(noisy).to(device);
  return batch;
}

void BatchIterator::start_prefetch(int64_t epoch, int64_t step) {
  if (!options_.prefetch || !options_.device.is_cpu() || step >= steps_per_epoch()) return;
  // The order is computed here, on the caller's thread; the worker only reads
  // immutable host data and allocates its own tensors.
  std::vector<int64_t> indices = batch_indices(epoch, step);
  pending_ = std::async(std::launch::async, [this, indices = std::move(indices), epoch, step]() {
    return build(indices, epoch, step);
  });
  pending_epoch_ = epoch;
  pending_step_ = step;
}

void BatchIterator::drop_prefetch() {
  if (pending_.valid()) {
    try {
      pending_.get();
    } catch (...) {
      // A failed prefetch of a batch nobody asked for is not an error.
    }
  }
  pending_epoch_ = pending_step_ = -1;
}

bool BatchIterator::next(Batch& batch) {
  if (step_ >= steps_per_epoch()) {
    ++epoch_;
    step_ = 0;
    return false;
  }
  if (pending_.valid() && pending_epoch_ == epoch_ && pending_step_ == step_) {
    batch = pending_.get();  // rethrows what the worker threw
    pending_epoch_ = pending_step_ = -1;
  } else {
    drop_prefetch();
    batch = build(batch_indices(epoch_, step_), epoch_, step_);
  }
  ++step_;
  if (step_ < steps_per_epoch()) {
    start_prefetch(epoch_, step_);
  } else {
    start_prefetch(epoch_ + 1, 0);
  }
  return true;
}

}  // namespace basin::data

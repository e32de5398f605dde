// BatchIterator: walks a Dataset in (optionally shuffled) batches and delivers
// uint8 images, noisy and clean labels and dataset indices on the target
// device. The order of epoch e is a pure function of (seed, e), so a run
// resumed at (epoch, step) sees exactly the batches it would have seen.
#pragma once
#include <cstdint>
#include <future>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "data/dataset.h"

namespace basin::data {

struct Batch {
  Tensor images;        // u8 [B, C, H, W] on the iterator's device
  Tensor noisy_labels;  // i64 [B], the labels trained on
  Tensor clean_labels;  // i64 [B]
  Tensor indices;       // i64 [B], positions in the dataset
  int64_t epoch = 0, step = 0;
  int64_t size() const { return indices.defined() ? indices.numel() : 0; }
};

struct BatchIteratorOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  Device device = Device::cpu();
  // Copy the whole uint8 image set to `device` once and gather each batch there
  // with index_select; otherwise gather on the host and copy each batch. (On the
  // CPU both are the same host gather.)
  bool images_on_device = true;
  // On the CPU, prepare the next batch on a background thread while the
  // current one is used.
  bool prefetch = true;
  int64_t start_epoch = 0, start_step = 0;  // resume position
};

class BatchIterator {
 public:
  // noisy_labels: i64 [N], or undefined to train on the clean labels.
  BatchIterator(const Dataset& dataset, const Tensor& noisy_labels, const BatchIteratorOptions& options = {});
  ~BatchIterator();
  BatchIterator(const BatchIterator&) = delete;
  BatchIterator& operator=(const BatchIterator&) = delete;

  int64_t dataset_size() const { return n_; }
  int64_t steps_per_epoch() const;
  // Position of the batch the next call to next() returns.
  int64_t epoch() const { return epoch_; }
  int64_t step() const { return step_; }
  void seek(int64_t epoch, int64_t step);

  // Fills `batch` with the batch at the current position and advances. At the
  // end of an epoch returns false (batch untouched) and moves to (epoch + 1, 0).
  bool next(Batch& batch);

  // The sample order of an epoch: a permutation of [0, N) (identity without shuffle).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  std::vector<int64_t> batch_indices(int64_t epoch, int64_t step);
  Batch build(const std::vector<int64_t>& indices, int64_t epoch, int64_t step) const;
  void start_prefetch(int64_t epoch, int64_t step);
  void drop_prefetch();

  Dataset dataset_;
  std::vector<int64_t> clean_, noisy_;
  Tensor device_images_;  // the whole set on the device (images_on_device, non-CPU)
  BatchIteratorOptions options_;
  int64_t n_ = 0;
  int64_t epoch_ = 0, step_ = 0;
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;
  std::future<Batch> pending_;
  int64_t pending_epoch_ = -1, pending_step_ = -1;
};

}  // namespace basin::data

// Storage: one owned, reference-counted block of device bytes. Tensors are views
// (shape, strides, offset) into a Storage; the block goes back to its backend's
// allocator when the last view is gone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/device.h"

namespace basin {

class Storage {
 public:
  Storage(size_t nbytes, Device device);  // allocates through the device's backend
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
};

// Bytes held by live Storage blocks of one device type, counted here, where
// every tensor allocation passes, so `basin plan` measures a step's memory the
// same way on every backend. Sizes are the tensors' own; an allocator's
// rounding and caching, and kernel-private scratch (CPU GEMM packing buffers,
// cuDNN workspaces) are not included.
struct StorageStats {
  int64_t live_bytes = 0;  // held now
  int64_t peak_bytes = 0;  // maximum of live_bytes since the last reset_storage_peak
  int64_t live_blocks = 0;
};
StorageStats storage_stats(DeviceType type);
// Restart the peak at the current live bytes.
void reset_storage_peak(DeviceType type);

}  // namespace basin

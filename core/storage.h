// Storage: one owned, reference-counted block of device bytes. Tensors are views
// (shape, strides, offset) into a Storage; the block goes back to its backend's
// allocator when the last view is gone.
#pragma once
#include <cstddef>
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

}  // namespace basin

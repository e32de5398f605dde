#include "core/storage.h"

#include <atomic>

#include "core/backend.h"

namespace basin {

namespace {

// Lock-free counters: tensors are allocated from any thread, and a relaxed
// add plus a compare-exchange on a new maximum costs nothing next to malloc.
struct Counters {
  std::atomic<int64_t> live{0}, peak{0}, blocks{0};
};

Counters& counters(DeviceType type) {
  static Counters per_type[2];  // DeviceType::CPU, DeviceType::CUDA
  return per_type[type == DeviceType::CPU ? 0 : 1];
}

void count_allocation(DeviceType type, int64_t nbytes) {
  Counters& c = counters(type);
  c.blocks.fetch_add(1, std::memory_order_relaxed);
  const int64_t live = c.live.fetch_add(nbytes, std::memory_order_relaxed) + nbytes;
  int64_t peak = c.peak.load(std::memory_order_relaxed);
  while (live > peak && !c.peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}

void count_release(DeviceType type, int64_t nbytes) {
  Counters& c = counters(type);
  c.blocks.fetch_sub(1, std::memory_order_relaxed);
  c.live.fetch_sub(nbytes, std::memory_order_relaxed);
}

}  // namespace

StorageStats storage_stats(DeviceType type) {
  const Counters& c = counters(type);
  return {c.live.load(), c.peak.load(), c.blocks.load()};
}

void reset_storage_peak(DeviceType type) {
  Counters& c = counters(type);
  c.peak.store(c.live.load());
}

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  // Zero-byte tensors still get a distinct (tiny) block so data() is never null.
  data_ = backend_for(device).allocate(nbytes == 0 ? 1 : nbytes);
  count_allocation(device.type, static_cast<int64_t>(nbytes));
}

Storage::~Storage() {
  if (!data_) return;
  backend_for(device_).deallocate(data_, nbytes_ == 0 ? 1 : nbytes_);
  count_release(device_.type, static_cast<int64_t>(nbytes_));
}

}  // namespace basin

// Backend registry: the CPU backend is always present; cuda/ registers itself
// at start-up when it is linked in.
#include "core/backend.h"

#include <atomic>

#include "core/cpu/cpu_backend.h"
#include "core/error.h"

namespace basin {

namespace {
Backend*& cuda_slot() {
  static Backend* backend = nullptr;
  return backend;
}
}  // namespace

void register_backend(DeviceType type, Backend* backend) {
  BASIN_CHECK(type == DeviceType::CUDA, "register_backend: only the CUDA slot is registrable");
  cuda_slot() = backend;
}

bool has_backend(DeviceType type) { return type == DeviceType::CPU || cuda_slot() != nullptr; }

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
  BASIN_CHECK(cuda_slot() != nullptr, "device ", device.str(),
              " requested but this build of basin has no CUDA backend (configure with BASIN_CUDA=ON)");
  Backend& backend = *cuda_slot();
  const int count = backend.device_count();
  BASIN_CHECK(count > 0, "device ", device.str(), " requested but there is no CUDA device: ",
              backend.no_device_reason());
  BASIN_CHECK(device.index >= 0 && device.index < count, "device ", device.str(),
              " out of range: this machine has ", count, " CUDA device(s)");
  return backend;
}

Backend& backend_of(const Tensor& t) { return backend_for(t.device()); }

namespace {
[[noreturn]] void no_capture(const Backend& backend) {
  fail(cat("the ", backend.name(), " backend cannot capture a step as a CUDA graph (--cuda-graph): "
           "capture needs the CUDA backend and a CUDA device"));
}
}  // namespace

void Backend::record_allocations() { no_capture(*this); }
void Backend::begin_capture() { no_capture(*this); }
std::unique_ptr<CapturedWork> Backend::end_capture() { no_capture(*this); }

namespace {
std::atomic<uint64_t>& read_counter() {
  static std::atomic<uint64_t> reads{0};
  return reads;
}
}  // namespace

uint64_t device_to_host_reads() { return read_counter().load(std::memory_order_relaxed); }
void count_device_to_host_read() { read_counter().fetch_add(1, std::memory_order_relaxed); }

}  // namespace basin

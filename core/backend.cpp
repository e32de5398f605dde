// Backend registry: the CPU backend is always present; cuda/ registers itself
// at start-up when it is linked in.
#include "core/backend.h"

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
  return *cuda_slot();
}

Backend& backend_of(const Tensor& t) { return backend_for(t.device()); }

}  // namespace basin

// The CUDA backend's memory side (caching allocator, pinned staging for host
// transfers, device copies) and its registration for DeviceType::CUDA. The
// registrar runs at static-initialisation time; basin_cuda is an OBJECT
// library so the linker keeps it. Registration touches no CUDA API, so a
// machine without a GPU starts fine and gets a clear Error on first use.
#include "cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#include "cuda/allocator.h"
#include "cuda/cuda_common.h"
#include "cuda/cuda_info.h"

namespace basin::cuda {
namespace {

// Two pinned buffers used alternately, each guarded by an event, so an upload
// returns once its bytes are staged and the GPU copies while the host goes on.
constexpr size_t kStagingBytes = size_t(8) << 20;
constexpr int kMaxDevices = 16;

struct Staging {
  void* host[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  int next = 0;
};
std::mutex g_staging_mutex;
Staging g_staging[kMaxDevices];

Staging& staging_for(const DeviceContext& ctx) {
  Staging& s = g_staging[ctx.device];
  if (s.host[0] == nullptr) {
    for (int i = 0; i < 2; ++i) {
      CUDA_CHECK(cudaMallocHost(&s.host[i], kStagingBytes));
      CUDA_CHECK(cudaEventCreateWithFlags(&s.done[i], cudaEventDisableTiming));
    }
  }
  return s;
}

// A transfer between host and device inside a captured step would replay
// whatever the staging buffer holds then (or wait on the host): refused.
void refuse_while_capturing(const DeviceContext& ctx, const char* what) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(ctx.stream, &status));
  if (status != cudaStreamCaptureStatusNone)
    fail(cat("CUDA graph capture: a ", what, " copy inside the captured step; a captured step "
             "moves no data between host and device (its batch and per-step values are copied "
             "in before the launch)"));
}

}  // namespace

void* CudaBackend::allocate(size_t nbytes) { return device_allocate(nbytes); }
void CudaBackend::deallocate(void* ptr, size_t nbytes) { device_free(ptr, nbytes); }

void CudaBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  DeviceContext& ctx = context();
  refuse_while_capturing(ctx, "host-to-device");
  std::lock_guard<std::mutex> lock(g_staging_mutex);
  Staging& s = staging_for(ctx);
  size_t done = 0;
  while (done < nbytes) {
    const size_t chunk = std::min(kStagingBytes, nbytes - done);
    const int b = s.next;
    s.next ^= 1;
    CUDA_CHECK(cudaEventSynchronize(s.done[b]));  // the previous copy out of this buffer
    std::memcpy(s.host[b], static_cast<const char*>(src) + done, chunk);
    CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + done, s.host[b], chunk,
                               cudaMemcpyHostToDevice, ctx.stream));
    CUDA_CHECK(cudaEventRecord(s.done[b], ctx.stream));
    done += chunk;
  }
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  DeviceContext& ctx = context();
  refuse_while_capturing(ctx, "device-to-host");
  {
    std::lock_guard<std::mutex> lock(g_staging_mutex);
    Staging& s = staging_for(ctx);
    size_t done = 0;
    while (done < nbytes) {
      const size_t chunk = std::min(kStagingBytes, nbytes - done);
      const int b = s.next;
      s.next ^= 1;
      CUDA_CHECK(cudaMemcpyAsync(s.host[b], static_cast<const char*>(src) + done, chunk,
                                 cudaMemcpyDeviceToHost, ctx.stream));
      CUDA_CHECK(cudaEventRecord(s.done[b], ctx.stream));
      CUDA_CHECK(cudaEventSynchronize(s.done[b]));
      std::memcpy(static_cast<char*>(dst) + done, s.host[b], chunk);
      done += chunk;
    }
  }
  // Values read back must not hide a kernel that met bad data.
  check_kernel_errors();
}

void CudaBackend::copy_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0 || dst == src) return;
  DeviceContext& ctx = context();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, ctx.stream));
}

void CudaBackend::synchronize() {
  DeviceContext& ctx = context();
  CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  check_kernel_errors();
}

namespace {
CudaBackend g_backend;
struct Registrar {
  Registrar() { register_backend(DeviceType::CUDA, &g_backend); }
} g_registrar;
}  // namespace

namespace {
std::atomic<bool> g_cudnn_enabled{true};
}  // namespace

void set_cudnn_enabled(bool on) { g_cudnn_enabled = on; }

bool uses_cudnn() {
#if defined(BASIN_HAS_CUDNN)
  return g_cudnn_enabled;
#else
  return false;
#endif
}

}  // namespace basin::cuda

// The caching device allocator: size classes (512-byte steps below 1 MiB,
// quarter-power-of-two steps above), exact-class free lists per device, one
// retry after emptying the cache on out-of-memory, and the statistics that
// cuda_info.h exposes. Frees are stream-ordered: every kernel runs on the one
// stream per device, so a block handed back may be reused by the next launch.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/cuda_common.h"
#include "cuda/cuda_info.h"

namespace basin::cuda {
namespace {

size_t size_class(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  constexpr size_t kSmallStep = 512, kMiB = size_t(1) << 20;
  if (nbytes <= kMiB) return (nbytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  // Largest power of two not above nbytes, then quarter steps of it.
  size_t p = kMiB;
  while (p * 2 <= nbytes) p *= 2;
  const size_t step = p / 4;
  return (nbytes + step - 1) / step * step;
}

struct DevicePool {
  std::map<size_t, std::vector<void*>> free_blocks;  // class size -> blocks
  std::unordered_map<void*, size_t> live;            // pointer -> class size
  size_t allocated = 0, cached = 0, peak = 0, malloc_calls = 0;
};

constexpr int kMaxDevices = 16;
// Never destroyed: tensors held in other static objects may be freed after
// this file's statics would have been torn down at exit.
std::mutex& g_mutex = *new std::mutex;
DevicePool* const g_pools = new DevicePool[kMaxDevices];

DevicePool& pool_for(int device) { return g_pools[device]; }

void release_cached(DevicePool& pool) {
  for (auto& [size, blocks] : pool.free_blocks) {
    for (void* p : blocks) {
      cudaFree(p);  // failures here cannot be acted on; the memory is gone either way
      pool.cached -= size;
    }
  }
  pool.free_blocks.clear();
}

}  // namespace

void* device_allocate(size_t nbytes) {
  DeviceContext& ctx = context();
  const size_t size = size_class(nbytes);
  std::lock_guard<std::mutex> lock(g_mutex);
  DevicePool& pool = pool_for(ctx.device);
  auto it = pool.free_blocks.find(size);
  void* ptr = nullptr;
  if (it != pool.free_blocks.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    pool.cached -= size;
  } else {
    cudaError_t err = cudaMalloc(&ptr, size);
    ++pool.malloc_calls;
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      // Cached blocks are idle but may still be read by queued kernels: drain first.
      CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
      const size_t cached_before = pool.cached;
      release_cached(pool);
      err = cudaMalloc(&ptr, size);
      ++pool.malloc_calls;
      if (err == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        fail(cat("CUDA out of memory on device ", ctx.device, ": requested ", nbytes,
                 " bytes (", size, " rounded); free ", free_b, " of ", total_b,
                 " bytes; basin holds ", pool.allocated, " bytes in tensors and had ", cached_before,
                 " bytes cached (released before retrying)"));
      }
    }
    if (err != cudaSuccess) fail_cuda("cudaMalloc", err, __FILE__, __LINE__);
  }
  pool.live[ptr] = size;
  pool.allocated += size;
  if (pool.allocated > pool.peak) pool.peak = pool.allocated;
  return ptr;
}

void device_free(void* ptr, size_t /*nbytes*/) {
  if (ptr == nullptr) return;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return;  // during shutdown: leak, never throw
  std::lock_guard<std::mutex> lock(g_mutex);
  // The block may belong to another device than the current one.
  for (int d = 0; d < kMaxDevices; ++d) {
    DevicePool& pool = pool_for((device + d) % kMaxDevices);
    auto it = pool.live.find(ptr);
    if (it == pool.live.end()) continue;
    const size_t size = it->second;
    pool.live.erase(it);
    pool.allocated -= size;
    pool.free_blocks[size].push_back(ptr);
    pool.cached += size;
    return;
  }
}

static DevicePool& current_pool() { return pool_for(context().device); }

size_t allocated_bytes() { if (device_count() == 0) return 0; auto& p = current_pool(); std::lock_guard<std::mutex> l(g_mutex); return p.allocated; }
size_t cached_bytes() { if (device_count() == 0) return 0; auto& p = current_pool(); std::lock_guard<std::mutex> l(g_mutex); return p.cached; }
size_t peak_allocated_bytes() { if (device_count() == 0) return 0; auto& p = current_pool(); std::lock_guard<std::mutex> l(g_mutex); return p.peak; }
size_t device_malloc_calls() { if (device_count() == 0) return 0; auto& p = current_pool(); std::lock_guard<std::mutex> l(g_mutex); return p.malloc_calls; }

void reset_peak() {
  if (device_count() == 0) return;
  auto& p = current_pool();
  std::lock_guard<std::mutex> l(g_mutex);
  p.peak = p.allocated;
}

void empty_cache() {
  if (device_count() == 0) return;
  DeviceContext& ctx = context();
  CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  std::lock_guard<std::mutex> l(g_mutex);
  release_cached(pool_for(ctx.device));
}

}  // namespace basin::cuda

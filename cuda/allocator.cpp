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

// A captured graph's memory (see allocator.h).
struct PrivatePool {
  int device = 0;
  std::map<size_t, std::vector<void*>> free_blocks;
  std::unordered_map<void*, size_t> live;
  std::vector<std::pair<void*, size_t>> held;  // ordinary blocks freed while the pool was active
  size_t bytes = 0;
};
// What the warm-up step allocated: per class, blocks live now and at most.
struct Recording {
  bool on = false;
  std::unordered_map<void*, size_t> live;
  std::map<size_t, size_t> now, peak;
};
std::map<int, PrivatePool>& g_private = *new std::map<int, PrivatePool>;
Recording& g_recording = *new Recording;
int g_active_pool = -1;
int g_next_pool = 1;

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
  if (g_active_pool >= 0) {  // capturing: the pool reserved from the warm-up, never cudaMalloc
    PrivatePool& pp = g_private.at(g_active_pool);
    auto it = pp.free_blocks.find(size);
    if (it == pp.free_blocks.end() || it->second.empty())
      fail(cat("CUDA graph capture: the captured step needs one more block of ", size,
               " bytes than its warm-up step had live at once; a captured step must allocate as its "
               "warm-up did (same method phase, same shapes)"));
    void* ptr = it->second.back();
    it->second.pop_back();
    pp.live[ptr] = size;
    return ptr;
  }
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
  if (g_recording.on) {
    g_recording.live[ptr] = size;
    size_t& now = ++g_recording.now[size];
    size_t& peak = g_recording.peak[size];
    if (now > peak) peak = now;
  }
  return ptr;
}

void device_free(void* ptr, size_t /*nbytes*/) {
  if (ptr == nullptr) return;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return;  // during shutdown: leak, never throw
  std::lock_guard<std::mutex> lock(g_mutex);
  // A captured graph's block goes back to its pool, whether capturing or not.
  for (auto& entry : g_private) {
    PrivatePool& pp = entry.second;
    auto it = pp.live.find(ptr);
    if (it == pp.live.end()) continue;
    pp.free_blocks[it->second].push_back(ptr);
    pp.live.erase(it);
    return;
  }
  // The block may belong to another device than the current one.
  for (int d = 0; d < kMaxDevices; ++d) {
    DevicePool& pool = pool_for((device + d) % kMaxDevices);
    auto it = pool.live.find(ptr);
    if (it == pool.live.end()) continue;
    const size_t size = it->second;
    pool.live.erase(it);
    pool.allocated -= size;
    if (g_recording.on && g_recording.live.erase(ptr) > 0) --g_recording.now[size];
    if (g_active_pool >= 0) {  // the graph being captured may read it: held until the graph goes
      g_private.at(g_active_pool).held.emplace_back(ptr, size);
      return;
    }
    pool.free_blocks[size].push_back(ptr);
    pool.cached += size;
    return;
  }
}

void allocation_recording_start() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_recording = Recording();
  g_recording.on = true;
}

int private_pool_create() {
  DeviceContext& ctx = context();
  std::lock_guard<std::mutex> lock(g_mutex);
  BASIN_CHECK(g_recording.on, "CUDA graph capture: no warm-up step was recorded (allocation_recording_start)");
  const std::map<size_t, size_t> peak = std::move(g_recording.peak);
  g_recording = Recording();
  DevicePool& pool = pool_for(ctx.device);
  PrivatePool pp;
  pp.device = ctx.device;
  for (const auto& [size, count] : peak) {
    std::vector<void*>& mine = pp.free_blocks[size];
    std::vector<void*>& cached = pool.free_blocks[size];
    for (size_t i = 0; i < count; ++i) {
      void* ptr = nullptr;
      if (!cached.empty()) {  // the warm-up's own temporaries, idle in the cache
        ptr = cached.back();
        cached.pop_back();
        pool.cached -= size;
      } else {
        const cudaError_t err = cudaMalloc(&ptr, size);
        ++pool.malloc_calls;
        if (err != cudaSuccess) {
          cudaGetLastError();
          for (auto& [s, blocks] : pp.free_blocks) {  // back to the cache, then the error
            for (void* p : blocks) pool.free_blocks[s].push_back(p);
            pool.cached += s * blocks.size();
          }
          fail(cat("CUDA graph capture: reserving ", pp.bytes + size, " bytes for the captured step failed (",
                   cudaGetErrorString(err), "); run without --cuda-graph"));
        }
      }
      mine.push_back(ptr);
      pp.bytes += size;
    }
  }
  const int id = g_next_pool++;
  g_private.emplace(id, std::move(pp));
  return id;
}

void private_pool_activate(int id) {
  std::lock_guard<std::mutex> lock(g_mutex);
  BASIN_CHECK(id < 0 || g_private.count(id), "CUDA graph capture: no private pool ", id);
  g_active_pool = id;
}

void private_pool_release(int id) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto found = g_private.find(id);
  if (found == g_private.end()) return;
  PrivatePool& pp = found->second;
  DevicePool& pool = pool_for(pp.device);
  for (const auto& [ptr, size] : pp.live) {  // still held by tensors: now ordinary blocks
    pool.live[ptr] = size;
    pool.allocated += size;
  }
  if (pool.allocated > pool.peak) pool.peak = pool.allocated;
  for (auto& [size, blocks] : pp.free_blocks)
    for (void* ptr : blocks) {
      pool.free_blocks[size].push_back(ptr);
      pool.cached += size;
    }
  for (const auto& [ptr, size] : pp.held) {
    pool.free_blocks[size].push_back(ptr);
    pool.cached += size;
  }
  if (g_active_pool == id) g_active_pool = -1;
  g_private.erase(found);
}

size_t private_pool_bytes(int id) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto found = g_private.find(id);
  return found == g_private.end() ? 0 : found->second.bytes;
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

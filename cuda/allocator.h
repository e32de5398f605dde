// Internal to cuda/: the caching device allocator behind Backend::allocate.
// Blocks are rounded to size classes and kept on per-class free lists, so a
// training step that repeats its shapes never calls cudaMalloc after warm-up.
#pragma once
#include <cstddef>

namespace basin::cuda {

void* device_allocate(size_t nbytes);
void device_free(void* ptr, size_t nbytes);

// Graph capture (cuda/graph.cpp). A captured step replays at the addresses it
// was captured with, so its temporaries come from a private pool that no other
// allocation touches while the graph lives:
//  - allocation_recording_start: from now on, note per size class the most
//    blocks allocated since then that are live at once (the warm-up step);
//  - private_pool_create: stops recording and reserves that many blocks per
//    class (cudaMalloc, before the capture begins); returns the pool's id;
//  - private_pool_activate(id) / (-1): while active, every allocation comes
//    from the pool's free lists (a class it lacks is an Error, never a
//    cudaMalloc during capture), and an ordinary block freed meanwhile is held
//    back until the pool is released (the graph may still read it);
//  - private_pool_release: hands the pool's blocks, live and free, and the
//    held-back ones to the ordinary cache (after the graph is destroyed).
void allocation_recording_start();
int private_pool_create();
void private_pool_activate(int id);
void private_pool_release(int id);
size_t private_pool_bytes(int id);

// A temporary device buffer from the cache (workspaces, im2col columns).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t nbytes) : ptr_(nbytes ? device_allocate(nbytes) : nullptr), nbytes_(nbytes) {}
  ~DeviceBuffer() { if (ptr_) device_free(ptr_, nbytes_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), nbytes_(o.nbytes_) { o.ptr_ = nullptr; o.nbytes_ = 0; }
  void* get() const { return ptr_; }
  template <class T> T* as() const { return static_cast<T*>(ptr_); }
  size_t size() const { return nbytes_; }

 private:
  void* ptr_ = nullptr;
  size_t nbytes_ = 0;
};

}  // namespace basin::cuda

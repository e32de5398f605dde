// Internal to cuda/: the caching device allocator behind Backend::allocate.
// Blocks are rounded to size classes and kept on per-class free lists, so a
// training step that repeats its shapes never calls cudaMalloc after warm-up.
#pragma once
#include <cstddef>

namespace basin::cuda {

void* device_allocate(size_t nbytes);
void device_free(void* ptr, size_t nbytes);

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

#include "core/storage.h"

#include "core/backend.h"

namespace basin {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  // Zero-byte tensors still get a distinct (tiny) block so data() is never null.
  data_ = backend_for(device).allocate(nbytes == 0 ? 1 : nbytes);
}

Storage::~Storage() {
  if (data_) backend_for(device_).deallocate(data_, nbytes_ == 0 ? 1 : nbytes_);
}

}  // namespace basin

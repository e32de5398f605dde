// Tensor: a cheap, reference-counted handle to (storage, shape, strides,
// offset, dtype) plus its autograd state. Copying a Tensor copies the handle,
// never the data. View methods (reshape, slice, transpose, ...) share storage;
// contiguous() and clone() copy. Methods that compute are thin wrappers over
// the free functions of core/ops.h, which record autograd nodes.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/storage.h"

namespace basin {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Node;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;   // accumulated gradient (leaves only)
  std::shared_ptr<Node> grad_fn;      // the node that produced this tensor, if recorded
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

  // --- metadata ---
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t offset() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  bool shares_storage(const Tensor& other) const;
  std::string str() const;  // "f32[2, 3] cpu", for messages

  // --- raw access (contiguity is the caller's business) ---
  void* raw_data() const;  // first element, offset applied
  template <class T> T* data() const;  // checks dtype_of<T> == dtype()

  // --- views (share storage; recorded for autograd) ---
  Tensor view(const Shape& shape) const;      // needs contiguous; one dim may be -1
  Tensor reshape(const Shape& shape) const;   // view when possible, else copy
  Tensor slice(int64_t start, int64_t end) const;  // rows [start, end) of dim 0
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }  // 2-D
  Tensor squeeze(int64_t d) const;
  Tensor unsqueeze(int64_t d) const;
  Tensor flatten(int64_t start_dim = 1) const;  // keep dims before start_dim
  Tensor expand(const Shape& shape) const;      // broadcast view (stride 0)

  // --- copies ---
  Tensor contiguous() const;  // this when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy (recorded)
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor detach() const;      // same storage, no autograd history

  // --- autograd ---
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // leaves only
  Tensor grad() const;                     // undefined until a backward reached it
  void set_grad(const Tensor& grad) const; // e.g. a view into a flat gradient arena
  std::shared_ptr<Node> grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }
  // backward() from a one-element tensor, or backward(upstream) with upstream
  // of this tensor's shape. retain_graph keeps the saved tensors so another
  // upstream gradient can be propagated through the same graph.
  void backward(const Tensor& upstream = Tensor(), bool retain_graph = false) const;

  // --- in place, never recorded (optimizer arithmetic, initialisation) ---
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);               // same shape; dtype converts
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // this += alpha*other
  Tensor& mul_(double factor);

  // --- host read-out ---
  double item() const;  // one-element tensors, any dtype and device
  template <class T> std::vector<T> to_vector() const;  // copies to host, contiguous

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// --- factories ---
Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::cpu());
Tensor arange(int64_t n, DType dtype = DType::I64, Device device = Device::cpu());
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
// scalar_like(x, v): a one-element tensor with x's dtype and device
Tensor scalar_like(const Tensor& like, double value);

// Views onto existing storage, e.g. parameters inside a flat arena.
Tensor make_view(const std::shared_ptr<Storage>& storage, const Shape& shape, const Shape& strides,
                 int64_t offset, DType dtype);

}  // namespace basin

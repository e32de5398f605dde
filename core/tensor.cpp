// Tensor metadata, views, copies and factories. Views record autograd nodes so
// gradients flow back through reshape / slice / transpose / expand.
#include "core/tensor.h"

#include <cstring>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

namespace {

const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  BASIN_CHECK(impl != nullptr, "operation on an undefined tensor");
  return *impl;
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  const int64_t wrapped = d < 0 ? d + ndim : d;
  BASIN_CHECK(wrapped >= 0 && wrapped < ndim, op, ": dim ", d, " out of range for a ", ndim,
              "-d tensor");
  return wrapped;
}

// A new impl sharing `base`'s storage with other geometry; no autograd state.
Tensor restride(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(impl);
}

}  // namespace

// ---------------------------------------------------------------- metadata
const Shape& Tensor::shape() const { return checked(impl_).shape; }
const Shape& Tensor::strides() const { return checked(impl_).strides; }
int64_t Tensor::offset() const { return checked(impl_).offset; }
DType Tensor::dtype() const { return checked(impl_).dtype; }
Device Tensor::device() const { return checked(impl_).storage->device(); }
int64_t Tensor::numel() const { return shape_numel(shape()); }

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

bool Tensor::shares_storage(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined tensor";
  return cat(dtype_name(dtype()), shape_str(shape()), " ", device().str());
}

void* Tensor::raw_data() const {
  const TensorImpl& t = checked(impl_);
  return static_cast<char*>(t.storage->data()) + t.offset * static_cast<int64_t>(dtype_size(t.dtype));
}

template <class T>
T* Tensor::data() const {
  BASIN_CHECK(dtype() == dtype_of<T>, "data<", dtype_name(dtype_of<T>), ">() on a ", str(),
              " tensor");
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int32_t* Tensor::data<int32_t>() const;
template int64_t* Tensor::data<int64_t>() const;
template uint8_t* Tensor::data<uint8_t>() const;

// ------------------------------------------------------------------- views
Tensor Tensor::view(const Shape& requested) const {
  Shape shape = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      BASIN_CHECK(infer < 0, "view: more than one -1 in ", shape_str(requested));
      infer = static_cast<int64_t>(i);
    } else {
      BASIN_CHECK(shape[i] >= 0, "view: negative size in ", shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    BASIN_CHECK(known > 0 && numel() % known == 0, "view: cannot infer -1 of ",
                shape_str(requested), " for ", str());
    shape[infer] = numel() / known;
  }
  BASIN_CHECK(shape_numel(shape) == numel(), "view: ", str(), " has ", numel(),
              " elements, shape ", shape_str(requested), " needs ", shape_numel(shape));
  BASIN_CHECK(is_contiguous(), "view: ", str(), " is not contiguous (strides ",
              shape_str(strides()), "); use reshape()");
  const Shape original = this->shape();
  Tensor out = restride(*this, shape, contiguous_strides(shape), offset());
  return record("view", out, {*this},
                [original](const Tensor& g) { return std::vector<Tensor>{g.reshape(original)}; });
}

Tensor Tensor::reshape(const Shape& shape) const {
  return is_contiguous() ? view(shape) : contiguous().view(shape);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  BASIN_CHECK(start >= 0 && length >= 0 && start + length <= shape()[d], "narrow: [", start, ", ",
              start + length, ") out of range for dim ", d, " of ", str());
  Shape shape = this->shape();
  shape[d] = length;
  const Shape original = this->shape();
  Tensor out = restride(*this, shape, strides(), offset() + start * strides()[d]);
  return record("narrow", out, {*this}, [original, d, start, length](const Tensor& g) {
    Tensor gx = zeros(original, g.dtype(), g.device());
    gx.narrow(d, start, length).copy_(g);
    return std::vector<Tensor>{gx};
  });
}

Tensor Tensor::slice(int64_t start, int64_t end) const {
  BASIN_CHECK(dim() >= 1, "slice on a 0-d tensor");
  return narrow(0, start, end - start);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  Shape shape = this->shape(), strides = this->strides();
  std::swap(shape[d0], shape[d1]);
  std::swap(strides[d0], strides[d1]);
  Tensor out = restride(*this, shape, strides, offset());
  return record("transpose", out, {*this},
                [d0, d1](const Tensor& g) { return std::vector<Tensor>{g.transpose(d0, d1)}; });
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  BASIN_CHECK(shape()[d] == 1, "squeeze: dim ", d, " of ", str(), " is not 1");
  Shape shape = this->shape();
  shape.erase(shape.begin() + d);
  return reshape(shape);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape shape = this->shape();
  shape.insert(shape.begin() + d, 1);
  return reshape(shape);
}

Tensor Tensor::flatten(int64_t start_dim) const {
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  Shape shape(this->shape().begin(), this->shape().begin() + start_dim);
  shape.push_back(-1);
  if (numel() == 0) shape.back() = 0;
  return reshape(shape);
}

Tensor Tensor::expand(const Shape& target) const {
  BASIN_CHECK(target.size() >= shape().size(), "expand: cannot expand ", str(), " to ",
              shape_str(target));
  const size_t lead = target.size() - shape().size();
  Shape strides(target.size(), 0);
  for (size_t i = 0; i < shape().size(); ++i) {
    const int64_t have = shape()[i], want = target[lead + i];
    BASIN_CHECK(have == want || have == 1, "expand: cannot expand ", str(), " to ",
                shape_str(target));
    strides[lead + i] = have == want ? this->strides()[i] : 0;
  }
  const Shape original = shape();
  Tensor out = restride(*this, target, strides, offset());
  return record("expand", out, {*this},
                [original](const Tensor& g) { return std::vector<Tensor>{sum_to_shape(g, original)}; });
}

// ------------------------------------------------------------------ copies
Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  backend_of(*this).copy_strided(*this, out);
  return record("clone", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(Device target) const {
  if (target.is_cpu() && !device().is_cpu()) count_device_to_host_read();
  if (target == device()) return *this;
  const Tensor src = contiguous();
  Tensor out = empty(shape(), dtype(), target);
  const size_t nbytes = static_cast<size_t>(numel()) * dtype_size(dtype());
  if (src.device().is_cpu()) {
    backend_for(target).copy_from_host(out.raw_data(), src.raw_data(), nbytes);
  } else if (target.is_cpu()) {
    backend_of(src).copy_to_host(out.raw_data(), src.raw_data(), nbytes);
  } else {  // device to device of another index: through the host
    Tensor host = src.to(Device::cpu());
    backend_for(target).copy_from_host(out.raw_data(), host.raw_data(), nbytes);
  }
  const Device source = device();
  return record("to_device", out, {*this},
                [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  const Tensor src = contiguous();
  Tensor out = empty(shape(), target, device());
  backend_of(src).cast(src, out);
  if (!is_floating(target) || !is_floating(dtype())) return out;
  const DType source = dtype();
  return record("to_dtype", out, {*this},
                [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
}

Tensor Tensor::detach() const { return restride(*this, shape(), strides(), offset()); }

// ---------------------------------------------------------------- autograd
bool Tensor::requires_grad() const { return checked(impl_).requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  BASIN_CHECK(is_leaf(), "requires_grad_: ", str(), " is not a leaf (it was computed by ",
              grad_fn()->name(), "); use detach() first");
  BASIN_CHECK(!on || is_floating(dtype()), "requires_grad_: ", str(),
              " is not floating point and cannot have a gradient");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(checked(impl_).grad); }

void Tensor::set_grad(const Tensor& grad) const {
  checked(impl_);
  if (grad.defined())
    BASIN_CHECK(grad.shape() == shape() && grad.dtype() == dtype() && grad.device() == device(),
                "set_grad: gradient ", grad.str(), " does not match tensor ", str());
  impl_->grad = grad.impl_ptr();
}

std::shared_ptr<Node> Tensor::grad_fn() const { return checked(impl_).grad_fn; }

void Tensor::backward(const Tensor& upstream, bool retain_graph) const {
  run_backward(*this, upstream, retain_graph);
}

// ---------------------------------------------------------------- in place
namespace {
void check_in_place(const Tensor& t, const char* op) {
  BASIN_CHECK(!(grad_enabled() && t.requires_grad()), op, ": in-place update of ", t.str(),
              " that requires grad while gradients are recorded; wrap it in NoGrad");
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_in_place(*this, "fill_");
  backend_of(*this).fill(*this, value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_in_place(*this, "copy_");
  BASIN_CHECK(src.shape() == shape(), "copy_: source ", src.str(), " does not match destination ",
              str());
  NoGrad no_grad;
  const Tensor converted = src.to(device()).to(dtype());
  backend_of(*this).copy_strided(converted, *this);
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_in_place(*this, "add_");
  BASIN_CHECK(is_contiguous(), "add_: destination ", str(), " must be contiguous");
  check_same_device(*this, other, "add_");
  check_same_dtype(*this, other, "add_");
  NoGrad no_grad;
  const Tensor addend = alpha == 1.0 ? other : mul(other, alpha);
  backend_of(*this).binary(BinaryOp::Add, *this, addend.expand(shape()), *this);
  return *this;
}

Tensor& Tensor::mul_(double factor) {
  check_in_place(*this, "mul_");
  BASIN_CHECK(is_contiguous(), "mul_: destination ", str(), " must be contiguous");
  backend_of(*this).binary_scalar(BinaryOp::Mul, *this, factor, *this);
  return *this;
}

// --------------------------------------------------------------- read-out
double Tensor::item() const {
  BASIN_CHECK(numel() == 1, "item() on ", str(), " which has ", numel(), " elements");
  if (device().is_cpu()) count_device_to_host_read();  // elsewhere to() counts it
  const Tensor host = to(Device::cpu());
  switch (dtype()) {
    case DType::F32: return *host.data<float>();
    case DType::F64: return *host.data<double>();
    case DType::I32: return *host.data<int32_t>();
    case DType::I64: return static_cast<double>(*host.data<int64_t>());
    case DType::U8: return *host.data<uint8_t>();
  }
  return 0;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  NoGrad no_grad;
  if (device().is_cpu()) count_device_to_host_read();  // elsewhere to() counts it
  const Tensor host = contiguous().to(Device::cpu());
  const T* p = host.data<T>();
  return std::vector<T>(p, p + numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

// --------------------------------------------------------------- factories
Tensor make_view(const std::shared_ptr<Storage>& storage, const Shape& shape, const Shape& strides,
                 int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(impl);
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) BASIN_CHECK(d >= 0, "empty: negative size in ", shape_str(shape));
  auto storage =
      std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  return make_view(storage, shape, contiguous_strides(shape), 0, dtype);
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor out = empty(shape, dtype, device);
  backend_for(device).fill(out, value);
  return out;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor arange(int64_t n, DType dtype, Device device) {
  std::vector<int64_t> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[i] = i;
  return from_vector<int64_t>(values, {n}, device).to(dtype);
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  BASIN_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ",
              values.size(), " values for shape ", shape_str(shape));
  Tensor host = empty(shape, dtype_of<T>, Device::cpu());
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(T));
  return host.to(device);
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, Device);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&, Device);

Tensor scalar_like(const Tensor& like, double value) { return full({}, value, like.dtype(), like.device()); }

}  // namespace basin

// Packing a model's parameters into one arena and rebinding its slots to views.
#include "optim/flat_params.h"

#include <cmath>
#include <map>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace basin::optim {

namespace {

Tensor arena_view(const Tensor& arena, const Segment& seg) {
  return make_view(arena.impl()->storage, seg.shape, contiguous_strides(seg.shape),
                   arena.offset() + seg.offset, arena.dtype());
}

void check_arena(const Tensor& buffer, const Tensor& params, const char* what) {
  BASIN_CHECK(buffer.defined(), "FlatParams.", what, ": buffer is undefined");
  BASIN_CHECK(buffer.dim() == 1 && buffer.numel() == params.numel() &&
                  buffer.dtype() == params.dtype() && buffer.device() == params.device() &&
                  buffer.is_contiguous(),
              "FlatParams.", what, ": buffer ", buffer.str(), " does not have the arena's layout ",
              params.str(), " (contiguous, same dtype and device)");
}

}  // namespace

FlatParams bind(nn::Module& model, Device device, const BindOptions& options) {
  NoGrad no_grad;
  std::map<std::string, std::string> module_types;
  for (auto& [name, module] : model.named_modules()) module_types[name] = module->type_name();

  FlatParams flat;
  const nn::NamedSlots named = model.named_parameters();
  BASIN_CHECK(!named.empty(), "optim::bind: model ", model.type_name(), " has no parameters");
  DType dtype = named.front().second->dtype();
  int64_t total = 0;
  for (auto& [name, slot] : named) {
    BASIN_CHECK(slot->defined() && is_floating(slot->dtype()), "optim::bind: parameter '", name,
                "' must be a defined floating tensor");
    BASIN_CHECK(slot->dtype() == dtype, "optim::bind: parameter '", name, "' is ", slot->str(),
                " but '", named.front().first, "' is ", dtype_name(dtype),
                "; all parameters must share one dtype");
    const size_t dot = name.rfind('.');
    const std::string owner = dot == std::string::npos ? "" : name.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
    Segment seg;
    seg.name = name;
    auto found = module_types.find(owner);
    seg.module_type = found == module_types.end() ? "" : found->second;
    seg.offset = total;
    seg.numel = slot->numel();
    seg.shape = slot->shape();
    const bool is_bn = seg.module_type.find("BatchNorm") != std::string::npos;
    seg.decay = !(options.no_decay_bn_bias && (is_bn || leaf == "bias"));
    seg.asam_weight = leaf == "weight";
    total += seg.numel;
    flat.segments_.push_back(seg);
    flat.slots_.push_back(slot);
  }
  for (size_t i = 0; i < flat.segments_.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      BASIN_CHECK(!flat.slots_[i]->same(*flat.slots_[j]), "optim::bind: parameters '",
                  flat.segments_[j].name, "' and '", flat.segments_[i].name,
                  "' are the same tensor (shared parameters are not supported)");

  flat.params_ = zeros({total}, dtype, device);
  flat.grads_ = zeros({total}, dtype, device);
  flat.decay_mask_ = ones({total}, dtype, device);
  flat.asam_weight_mask_ = zeros({total}, dtype, device);
  for (size_t i = 0; i < flat.segments_.size(); ++i) {
    const Segment& seg = flat.segments_[i];
    Tensor* slot = flat.slots_[i];
    Tensor view = arena_view(flat.params_, seg);
    view.copy_(slot->device() == device ? *slot : slot->to(device));
    if (!seg.decay) {
      flat.has_no_decay_ = true;
      arena_view(flat.decay_mask_, seg).fill_(0.0);
    }
    if (seg.asam_weight) arena_view(flat.asam_weight_mask_, seg).fill_(1.0);
    view.requires_grad_(true);
    view.set_grad(arena_view(flat.grads_, seg));
    *slot = view;
  }
  for (auto& [name, buffer] : model.named_buffers())
    if (buffer->defined() && buffer->device() != device) *buffer = buffer->to(device);
  return flat;
}

void FlatParams::zero_grad() {
  BASIN_CHECK(grads_.defined(), "FlatParams.zero_grad: not bound to a model");
  route_grads(grads_);
  NoGrad no_grad;
  grads_.zero_();
}

Tensor FlatParams::new_state_buffer() const {
  BASIN_CHECK(params_.defined(), "FlatParams.new_state_buffer: not bound to a model");
  return zeros({params_.numel()}, params_.dtype(), params_.device());
}

Tensor FlatParams::segment_view(const Tensor& buffer, size_t i) const {
  check_arena(buffer, params_, "segment_view");
  BASIN_CHECK(i < segments_.size(), "FlatParams.segment_view: segment ", i, " out of range (",
              segments_.size(), " segments)");
  return arena_view(buffer, segments_[i]);
}

std::vector<double> FlatParams::segment_norms(const Tensor& buffer) const {
  check_arena(buffer, params_, "segment_norms");
  std::vector<double> norms;
  norms.reserve(segments_.size());
  for (size_t i = 0; i < segments_.size(); ++i) {
    const Tensor v = arena_view(buffer, segments_[i]);
    norms.push_back(std::sqrt(dot_value(v, v)));
  }
  return norms;
}

void FlatParams::route_grads(const Tensor& arena) {
  check_arena(arena, params_, "route_grads");
  for (size_t i = 0; i < segments_.size(); ++i) {
    Tensor grad = slots_[i]->grad();
    // Already routed there: keep the handle (no allocation per step).
    if (grad.defined() && grad.shares_storage(arena) &&
        grad.offset() == arena.offset() + segments_[i].offset)
      continue;
    slots_[i]->set_grad(arena_view(arena, segments_[i]));
  }
}

void FlatParams::check_bound() const {
  BASIN_CHECK(params_.defined(), "FlatParams: not bound to a model (use optim::bind)");
  for (size_t i = 0; i < segments_.size(); ++i) {
    const Tensor& slot = *slots_[i];
    BASIN_CHECK(slot.defined() && slot.shares_storage(params_) &&
                    slot.offset() == params_.offset() + segments_[i].offset,
                "FlatParams: parameter '", segments_[i].name,
                "' no longer views the optimizer's arena (was the model moved or reloaded with "
                "Module::to after optim::bind? bind again, or load weights with "
                "FlatParams::load_params)");
  }
}

void FlatParams::load_params(const Tensor& flat) {
  BASIN_CHECK(params_.defined(), "FlatParams.load_params: not bound to a model");
  BASIN_CHECK(flat.defined() && flat.numel() == params_.numel(), "FlatParams.load_params: got ",
              flat.defined() ? flat.str() : std::string("undefined"), ", expected ",
              params_.numel(), " elements");
  NoGrad no_grad;
  Tensor src = flat.device() == params_.device() ? flat : flat.to(params_.device());
  params_.copy_(src.reshape({params_.numel()}));
}

}  // namespace basin::optim

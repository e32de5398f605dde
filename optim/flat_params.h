// FlatParams: every trainable parameter of a model packed into ONE contiguous
// 1-D arena per device, and the gradients into a second arena of the same
// layout. Each parameter slot of the model becomes a view into the arena, so an
// optimizer phase is one kernel over one array, and the perturbation e or the
// momentum is one tensor of the same layout you can norm, dump or plot.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/module.h"

namespace basin::optim {

// One parameter's place in the arena.
struct Segment {
  std::string name;         // dotted name from Module::named_parameters ("layer1.0.conv1.weight")
  std::string module_type;  // type_name() of the owning module ("Conv2d", "BatchNorm2d", ...)
  int64_t offset = 0;       // first element in the arena
  int64_t numel = 0;
  Shape shape;
  bool decay = true;         // weight decay applies (false: BN params / biases with no_decay_bn_bias)
  bool asam_weight = false;  // ASAM scales it by |w| + eta (conv/linear weights, BN scale)
};

struct BindOptions {
  // Exclude BatchNorm parameters and every bias from weight decay.
  bool no_decay_bn_bias = false;
};

class FlatParams {
 public:
  FlatParams() = default;

  // The arenas: params() [P] (the model's weights, through the views) and
  // grads() [P] (where backward accumulates while the slots' .grad point there).
  const Tensor& params() const { return params_; }
  const Tensor& grads() const { return grads_; }
  // 0/1 arenas of the same layout: weight decay applies / ASAM weight.
  const Tensor& decay_mask() const { return decay_mask_; }
  const Tensor& asam_weight_mask() const { return asam_weight_mask_; }
  // True when some segment is excluded from decay (decay_mask is not all ones).
  bool has_no_decay_segments() const { return has_no_decay_; }

  const std::vector<Segment>& segments() const { return segments_; }
  int64_t numel() const { return params_.defined() ? params_.numel() : 0; }
  Device device() const { return params_.device(); }
  DType dtype() const { return params_.dtype(); }

  // grads() = 0 (the arena that .grad currently points to is re-routed to grads()).
  void zero_grad();
  // Zeros of the arena's layout, dtype and device (momentum, e, g2, ...).
  Tensor new_state_buffer() const;
  // Per-segment L2 norms of `buffer` (an arena-shaped tensor), host values in segment order.
  std::vector<double> segment_norms(const Tensor& buffer) const;
  // View of segment i inside `buffer`, shaped like the parameter.
  Tensor segment_view(const Tensor& buffer, size_t i) const;

  // Point every parameter's .grad at the matching view of `arena` (same layout),
  // so the next backward accumulates there. route_grads(grads()) restores the default.
  void route_grads(const Tensor& arena);
  // Throws basin::Error naming the parameter when a model slot no longer views
  // the arena (e.g. the model was moved with Module::to after bind).
  void check_bound() const;

  // Fill the arena from a flat host-side or device tensor (checkpoint load) and back.
  void load_params(const Tensor& flat);

 private:
  friend FlatParams bind(nn::Module& model, Device device, const BindOptions& options);
  Tensor params_, grads_, decay_mask_, asam_weight_mask_;
  std::vector<Segment> segments_;
  std::vector<Tensor*> slots_;  // the model's parameter slots, in segment order
  bool has_no_decay_ = false;
};

// Pack `model`'s parameters (named_parameters order) into arenas on `device`.
// Parameters must share one floating dtype; they are copied (moved to `device`
// when elsewhere), every slot is rebound to a requires-grad leaf view of the
// arena with .grad a view of the grad arena. Buffers (BN running stats) are
// moved to `device` too. The model must outlive the FlatParams and must not be
// moved with Module::to afterwards (check_bound catches it).
FlatParams bind(nn::Module& model, Device device, const BindOptions& options = {});

}  // namespace basin::optim

// Module: the base of every layer and model. A module owns named parameter and
// buffer slots (Tensor members of the layer) and child modules; the recursive
// listings hand out pointers to those slots, so an optimizer can rebind a
// parameter to a view into its flat arena and the layer sees it next forward.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace basin::nn {

// (dotted name, pointer to the slot inside its module)
using NamedSlots = std::vector<std::pair<std::string, Tensor*>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Slots are registered by address: a module must stay where it was built.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Parameters in PyTorch order: this module's own (registration order), then
  // each child's, depth first. Buffers likewise.
  NamedSlots named_parameters();
  NamedSlots named_buffers();
  std::vector<Tensor*> parameters();
  // This module ("" as its name) and every descendant, pre-order.
  std::vector<std::pair<std::string, Module*>> named_modules();
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  // PyTorch's state_dict order: per module (pre-order) its parameters then its buffers.
  NamedSlots named_state();
  int64_t num_parameters();

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Move or convert every parameter and buffer. Parameters stay leaves that
  // require a gradient; integer buffers (num_batches_tracked) keep their dtype.
  void to(Device device);
  void to(DType dtype);
  void zero_grad();

  // Re-draw this module's own parameters (layers override); reset_all walks the tree.
  virtual void reset_parameters(Generator& gen);
  void reset_all(Generator& gen);

  // Registered type name for messages ("Conv2d", "BasicBlock", ...).
  virtual std::string type_name() const { return "Module"; }

 protected:
  // `slot` must be a member of this module; it becomes a leaf requiring a gradient.
  void register_parameter(const std::string& name, Tensor& slot);
  void register_buffer(const std::string& name, Tensor& slot);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, bool buffers, NamedSlots& out);

  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Runs its children in order; children are named "0", "1", ... (PyTorch's
// nn.Sequential). An empty Sequential is the identity.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  Sequential& add(std::shared_ptr<Module> module);
  size_t size() const { return children().size(); }
  bool empty() const { return children().empty(); }
  Module& operator[](size_t i) const;
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
};

}  // namespace basin::nn

// Module and Sequential: slot registration, the recursive listings that an
// optimizer and the state_dict code walk, and device/dtype moves.
#include "nn/module.h"

#include "core/autograd.h"
#include "core/error.h"

namespace basin::nn {

Tensor Module::forward(const Tensor&) {
  fail(cat(type_name(), " has no forward(const Tensor&)"));
}

void Module::check_new_name(const std::string& name) const {
  BASIN_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(),
              ": invalid slot name '", name, "' (non-empty, no '.')");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  BASIN_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), type_name(),
              ": name '", name, "' registered twice");
}

void Module::register_parameter(const std::string& name, Tensor& slot) {
  check_new_name(name);
  BASIN_CHECK(slot.defined(), type_name(), ": parameter '", name, "' is undefined");
  BASIN_CHECK(is_floating(slot.dtype()), type_name(), ": parameter '", name,
              "' must be floating, got ", slot.str());
  if (!slot.requires_grad()) slot.requires_grad_(true);
  params_.emplace_back(name, &slot);
}

void Module::register_buffer(const std::string& name, Tensor& slot) {
  check_new_name(name);
  BASIN_CHECK(slot.defined(), type_name(), ": buffer '", name, "' is undefined");
  buffers_.emplace_back(name, &slot);
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  BASIN_CHECK(module != nullptr, type_name(), ": child module '", name, "' is null");
  module->train(training_);
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool params, bool buffers, NamedSlots& out) {
  if (params)
    for (auto& [name, slot] : params_) out.emplace_back(prefix + name, slot);
  if (buffers)
    for (auto& [name, slot] : buffers_) out.emplace_back(prefix + name, slot);
  for (auto& [name, child] : children_) child->collect(prefix + name + ".", params, buffers, out);
}

NamedSlots Module::named_parameters() {
  NamedSlots out;
  collect("", true, false, out);
  return out;
}

NamedSlots Module::named_buffers() {
  NamedSlots out;
  collect("", false, true, out);
  return out;
}

NamedSlots Module::named_state() {
  NamedSlots out;
  collect("", true, true, out);
  return out;
}

std::vector<Tensor*> Module::parameters() {
  std::vector<Tensor*> out;
  for (auto& entry : named_parameters()) out.push_back(entry.second);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [name, child] : children_)
    for (auto& [sub, module] : child->named_modules())
      out.emplace_back(sub.empty() ? name : name + "." + sub, module);
  return out;
}

int64_t Module::num_parameters() {
  int64_t total = 0;
  for (auto& entry : named_parameters()) total += entry.second->numel();
  return total;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& entry : children_) entry.second->train(on);
}

namespace {
// A fresh leaf holding `value`'s data, requiring a gradient when `param`.
Tensor fresh_leaf(const Tensor& value, bool param) {
  Tensor leaf = value.detach();
  if (param) leaf.requires_grad_(true);
  return leaf;
}
}  // namespace

void Module::to(Device device) {
  NoGrad no_grad;
  for (auto& entry : named_parameters()) *entry.second = fresh_leaf(entry.second->to(device), true);
  for (auto& entry : named_buffers()) *entry.second = fresh_leaf(entry.second->to(device), false);
}

void Module::to(DType dtype) {
  BASIN_CHECK(is_floating(dtype), type_name(), ".to: parameters must be floating, got ",
              dtype_name(dtype));
  NoGrad no_grad;
  for (auto& entry : named_parameters()) *entry.second = fresh_leaf(entry.second->to(dtype), true);
  for (auto& entry : named_buffers())
    if (is_floating(entry.second->dtype()))
      *entry.second = fresh_leaf(entry.second->to(dtype), false);
}

void Module::zero_grad() {
  for (auto& entry : named_parameters()) {
    Tensor grad = entry.second->grad();
    NoGrad no_grad;
    if (grad.defined()) grad.zero_();
  }
}

void Module::reset_parameters(Generator&) {}

void Module::reset_all(Generator& gen) {
  for (auto& entry : named_modules()) entry.second->reset_parameters(gen);
}

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) add(std::move(m));
}

Sequential& Sequential::add(std::shared_ptr<Module> module) {
  register_module(std::to_string(children().size()), std::move(module));
  return *this;
}

Module& Sequential::operator[](size_t i) const {
  BASIN_CHECK(i < children().size(), "Sequential: index ", i, " out of range (size ",
              children().size(), ")");
  return *children()[i].second;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor out = x;
  for (auto& entry : children()) out = entry.second->forward(out);
  return out;
}

}  // namespace basin::nn

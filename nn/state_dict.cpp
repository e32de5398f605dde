// state_dict / load_state_dict and their safetensors convenience wrappers.
#include "nn/state_dict.h"

#include <unordered_map>

#include "core/autograd.h"
#include "core/error.h"

namespace basin::nn {

NamedTensors state_dict(Module& module) {
  NamedTensors out;
  for (auto& [name, slot] : module.named_state()) out.emplace_back(name, slot->detach());
  return out;
}

void load_state_dict(Module& module, const NamedTensors& tensors, bool strict) {
  const NamedSlots slots = module.named_state();
  std::unordered_map<std::string, const Tensor*> given;
  std::vector<std::string> problems;
  for (const auto& [name, t] : tensors)
    if (!given.emplace(name, &t).second) problems.push_back(cat("duplicate: '", name, "'"));

  std::unordered_map<std::string, Tensor*> wanted;
  for (const auto& [name, slot] : slots) wanted.emplace(name, slot);
  for (const auto& [name, slot] : slots) {
    auto it = given.find(name);
    if (it == given.end()) {
      if (strict) problems.push_back(cat("missing: '", name, "' ", slot->str()));
      continue;
    }
    const Tensor& src = *it->second;
    if (!src.defined()) {
      problems.push_back(cat("undefined: '", name, "'"));
      continue;
    }
    if (src.shape() != slot->shape())
      problems.push_back(cat("shape mismatch: '", name, "' file ", shape_str(src.shape()),
                             " vs model ", shape_str(slot->shape())));
    if (src.dtype() != slot->dtype())
      problems.push_back(cat("dtype mismatch: '", name, "' file ", dtype_name(src.dtype()),
                             " vs model ", dtype_name(slot->dtype())));
  }
  if (strict)
    for (const auto& [name, t] : tensors)
      if (!wanted.count(name)) problems.push_back(cat("unexpected: '", name, "' ", t.str()));

  if (!problems.empty()) {
    std::string message = cat("load_state_dict into ", module.type_name(), ": ", problems.size(),
                              " problem(s):");
    for (const auto& p : problems) message += "\n  " + p;
    fail(message);
  }
  NoGrad no_grad;
  for (const auto& [name, slot] : slots) {
    auto it = given.find(name);
    if (it == given.end()) continue;
    const Tensor& src = *it->second;
    slot->copy_(src.device() == slot->device() ? src : src.to(slot->device()));
  }
}

void save_module(Module& module, const std::string& path,
                 const std::map<std::string, std::string>& metadata) {
  safetensors::save(path, state_dict(module), metadata);
}

std::map<std::string, std::string> load_module(Module& module, const std::string& path,
                                               bool strict) {
  safetensors::File file = safetensors::load(path);
  try {
    load_state_dict(module, file.tensors, strict);
  } catch (const Error& e) {
    fail(cat("'", path, "': ", e.what()));
  }
  return file.metadata;
}

}  // namespace basin::nn

// A module's state as named tensors (PyTorch state_dict names: parameters and
// buffers, see docs/state_dict.md), loading it back with every mismatch reported
// at once, and save/load through safetensors files.
#pragma once
#include <map>
#include <string>

#include "core/safetensors.h"
#include "nn/module.h"

namespace basin::nn {

// Handles (not copies) to every parameter and buffer, in PyTorch state_dict order.
NamedTensors state_dict(Module& module);

// Copies `tensors` into the module's parameters and buffers (moved to each
// slot's device). Checks everything first and throws ONE Error listing all
// problems: names the module lacks (unexpected), names it has that are absent
// (missing), shape and dtype differences. With strict = false, missing and
// unexpected names are tolerated but shapes and dtypes of shared names are not.
// Nothing is written unless every check passes.
void load_state_dict(Module& module, const NamedTensors& tensors, bool strict = true);

void save_module(Module& module, const std::string& path,
                 const std::map<std::string, std::string>& metadata = {});
// Returns the file's metadata. Errors name the file.
std::map<std::string, std::string> load_module(Module& module, const std::string& path,
                                               bool strict = true);

}  // namespace basin::nn

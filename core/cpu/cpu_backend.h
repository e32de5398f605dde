// The CPU backend: the reference implementation of core/backend.h that every
// other backend is tested against. Always registered.
#pragma once
#include "core/backend.h"

namespace basin {

Backend& cpu_backend();

}  // namespace basin

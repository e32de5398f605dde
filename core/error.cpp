#include "core/error.h"

namespace basin {

void fail(const std::string& message) { throw Error(message); }

}  // namespace basin

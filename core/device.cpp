#include "core/device.h"

#include <cstdlib>

#include "core/error.h"

namespace basin {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string digits = text.substr(5);
    char* end = nullptr;
    long index = std::strtol(digits.c_str(), &end, 10);
    if (!digits.empty() && *end == '\0' && index >= 0) return cuda(static_cast<int>(index));
  }
  fail(cat("unknown device '", text, "' (expected cpu, cuda or cuda:N)"));
}

std::string Device::str() const {
  return type == DeviceType::CPU ? "cpu" : "cuda:" + std::to_string(index);
}

}  // namespace basin

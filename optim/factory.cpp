// make_optimizer: method name -> optimizer class.
#include "optim/factory.h"

#include "core/error.h"

namespace basin::optim {

std::unique_ptr<Optimizer> make_optimizer(const OptimConfig& config, FlatParams& flat,
                                          SampleTracker* tracker) {
  validate(config);
  const std::string& m = config.method;
  if (m == "sgd") return std::make_unique<Sgd>(config, flat, tracker);
  if (m == "sam") return std::make_unique<Sam>(config, flat, tracker);
  if (m == "asam") return std::make_unique<Asam>(config, flat, tracker);
  if (m == "ncsam") return std::make_unique<Ncsam>(config, flat, tracker);
  if (m == "casam") return std::make_unique<CaSam>(config, flat, tracker);
  fail(cat("optimizer: unknown method '", m, "'"));
}

}  // namespace basin::optim

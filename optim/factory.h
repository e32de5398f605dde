// make_optimizer: the optimizer a config names, over a bound FlatParams.
// Typical use (see docs/optimizers.md):
//   FlatParams flat = optim::bind(model, device, optim::bind_options(config));
//   SampleTracker tracker(train_size, device, config.ema_beta);
//   auto opt = optim::make_optimizer(config, flat, &tracker);
//   StepResult r = opt->step([&](Pass) { return model(x); }, {labels, indices, epoch, t, step});
#pragma once
#include <memory>

#include "optim/casam.h"
#include "optim/config.h"
#include "optim/ncsam.h"
#include "optim/optimizer.h"
#include "optim/sam.h"
#include "optim/sgd.h"

namespace basin::optim {

// tracker: optional for sgd/sam/asam/ncsam (updated every step when given),
// required for casam. flat and tracker must outlive the optimizer.
// Throws basin::Error naming the invalid field of config.
std::unique_ptr<Optimizer> make_optimizer(const OptimConfig& config, FlatParams& flat,
                                          SampleTracker* tracker = nullptr);

}  // namespace basin::optim

// The flags of `basin train` and their translation into a TrainConfig, apart
// from train.cpp so tests can check the parsing (unknown flags, bad values).
#pragma once
#include "apps/flags.h"
#include "apps/trainer.h"

namespace basin::apps {

void declare_train_flags(Flags& flags);
// Throws basin::Error naming the flag whose value is malformed.
TrainConfig train_config_from_flags(const Flags& flags);
// --resume: the run's saved flags become the values of every flag not given on
// this command line (except per-invocation ones: out, resume, stop-after, quiet).
void restore_saved_flags(Flags& flags);
// "cosine" | "constant" | "multistep:M1,M2[:gamma]" into the config's schedule fields.
void parse_schedule_flag(const std::string& text, optim::OptimConfig& config);

}  // namespace basin::apps

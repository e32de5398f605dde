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
// this command line (except per-invocation ones: out, resume, stop-after,
// quiet, overwrite). A flag given with a value that differs from the run's is
// refused, naming the flag, the run's value and the new one, unless it may
// change on resume (--epochs, and the execution and output flags).
void restore_saved_flags(Flags& flags);
// TrainConfig::flags as one JSON object typed by the flags' declarations
// (Flags::json); names that are not train flags are left out.
std::string train_flags_json(const std::map<std::string, std::string>& values);
// "cosine" | "constant" | "multistep:M1,M2[:gamma]" into the config's schedule fields.
void parse_schedule_flag(const std::string& text, optim::OptimConfig& config);

}  // namespace basin::apps

// Learning-rate schedules (see schedule.h for the formulas).
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace basin::optim {

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "cosine") return ScheduleKind::Cosine;
  if (name == "multistep") return ScheduleKind::MultiStep;
  if (name == "constant") return ScheduleKind::Constant;
  fail(cat("schedule: unknown kind '", name, "' (expected cosine, multistep or constant)"));
}

const char* schedule_kind_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Cosine: return "cosine";
    case ScheduleKind::MultiStep: return "multistep";
    case ScheduleKind::Constant: return "constant";
  }
  return "?";
}

Schedule::Schedule(const ScheduleConfig& config) : config_(config) {
  BASIN_CHECK(std::isfinite(config.base_lr) && config.base_lr >= 0.0,
              "schedule: base_lr must be finite and >= 0, got ", config.base_lr);
  BASIN_CHECK(config.warmup_steps >= 0 && config.warmup_epochs >= 0.0,
              "schedule: warm-up length must be >= 0, got ", config.warmup_steps, " steps / ",
              config.warmup_epochs, " epochs");
  const bool needs_epochs = config.warmup_epochs > 0.0 ||
                            (config.kind == ScheduleKind::MultiStep && !config.milestones.empty());
  BASIN_CHECK(!needs_epochs || config.steps_per_epoch > 0,
              "schedule: steps_per_epoch must be > 0 to convert epochs to steps, got ",
              config.steps_per_epoch);
  warmup_steps_ = config.warmup_steps;
  if (config.warmup_epochs > 0.0)
    warmup_steps_ = std::max(warmup_steps_, static_cast<int64_t>(std::llround(
                                                config.warmup_epochs * config.steps_per_epoch)));
  if (config.kind == ScheduleKind::Cosine) {
    BASIN_CHECK(config.total_steps > 0, "schedule: cosine needs total_steps > 0, got ",
                config.total_steps);
    BASIN_CHECK(warmup_steps_ < config.total_steps, "schedule: warm-up (", warmup_steps_,
                " steps) must be shorter than training (", config.total_steps, " steps)");
  }
  if (config.kind == ScheduleKind::MultiStep) {
    BASIN_CHECK(std::isfinite(config.gamma) && config.gamma > 0.0,
                "schedule: multistep gamma must be > 0, got ", config.gamma);
    for (double m : config.milestones) {
      BASIN_CHECK(std::isfinite(m) && m >= 0.0, "schedule: milestone ", m, " must be >= 0");
      milestone_steps_.push_back(static_cast<int64_t>(std::llround(m * config.steps_per_epoch)));
    }
  }
}

double Schedule::lr(int64_t step) const {
  BASIN_CHECK(step >= 0, "schedule: step must be >= 0, got ", step);
  const double base = config_.base_lr;
  if (step < warmup_steps_)
    return base * static_cast<double>(step + 1) / static_cast<double>(warmup_steps_);
  switch (config_.kind) {
    case ScheduleKind::Constant: return base;
    case ScheduleKind::Cosine: {
      if (step >= config_.total_steps) return 0.0;
      const double span = static_cast<double>(config_.total_steps - warmup_steps_);
      const double pos = static_cast<double>(step - warmup_steps_) / span;
      return base * 0.5 * (1.0 + std::cos(3.14159265358979323846 * pos));
    }
    case ScheduleKind::MultiStep: {
      double lr = base;
      for (int64_t m : milestone_steps_)
        if (step >= m) lr *= config_.gamma;
      return lr;
    }
  }
  return base;
}

}  // namespace basin::optim

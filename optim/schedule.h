// Learning-rate schedules: lr(step) is a pure function of the global
// iteration, so a resumed run needs nothing but its step counter.
// Cosine to 0 per iteration (default) or multistep, either after an optional
// linear warm-up.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace basin::optim {

enum class ScheduleKind { Cosine, MultiStep, Constant };

ScheduleKind parse_schedule_kind(const std::string& name);  // "cosine", "multistep", "constant"
const char* schedule_kind_name(ScheduleKind kind);

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::Cosine;
  double base_lr = 0.05;
  int64_t total_steps = 0;      // cosine: reaches 0 at this step (required > 0)
  int64_t steps_per_epoch = 0;  // converts epoch milestones and warm-up epochs (required when used)
  std::vector<double> milestones;  // multistep: epochs at which lr *= gamma
  double gamma = 0.1;              // multistep factor
  int64_t warmup_steps = 0;        // linear warm-up length in iterations ...
  double warmup_epochs = 0.0;      // ... or in epochs (the larger of the two wins)
};

class Schedule {
 public:
  Schedule() = default;
  explicit Schedule(const ScheduleConfig& config);  // validates, throws basin::Error
  // Warm-up (step < W): base_lr * (step + 1) / W.
  // Cosine after warm-up: base_lr * 0.5 * (1 + cos(pi * (step - W) / (total_steps - W))),
  //   clamped to 0 from total_steps on.
  // Multistep: base_lr * gamma^(number of milestones m with step >= round(m * steps_per_epoch)).
  double lr(int64_t step) const;
  int64_t warmup_steps() const { return warmup_steps_; }
  const ScheduleConfig& config() const { return config_; }

 private:
  ScheduleConfig config_;
  int64_t warmup_steps_ = 0;
  std::vector<int64_t> milestone_steps_;
};

}  // namespace basin::optim

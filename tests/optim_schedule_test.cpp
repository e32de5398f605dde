// Learning-rate schedules against hand-computed values, and the config's
// text interface (--help table, set_option).
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.h"
#include "optim/config.h"
#include "optim/schedule.h"

using namespace basin;
using namespace basin::optim;

TEST_CASE("optim: cosine schedule decays to zero per iteration") {
  ScheduleConfig c;
  c.base_lr = 0.2;
  c.total_steps = 100;
  Schedule s(c);
  CHECK(s.lr(0) == doctest::Approx(0.2));
  CHECK(s.lr(25) == doctest::Approx(0.1 * (1 + std::cos(M_PI / 4))));
  CHECK(s.lr(50) == doctest::Approx(0.1));
  CHECK(s.lr(99) == doctest::Approx(0.1 * (1 + std::cos(M_PI * 0.99))));
  CHECK(s.lr(100) == 0.0);
  CHECK(s.lr(150) == 0.0);
  for (int64_t k = 1; k < 100; ++k) CHECK(s.lr(k) < s.lr(k - 1));
  CHECK_THROWS_AS(s.lr(-1), Error);
}

TEST_CASE("optim: linear warm-up then cosine over the remaining steps") {
  ScheduleConfig c;
  c.base_lr = 0.1;
  c.total_steps = 110;
  c.steps_per_epoch = 5;
  c.warmup_epochs = 2;  // 10 steps
  Schedule s(c);
  CHECK(s.warmup_steps() == 10);
  CHECK(s.lr(0) == doctest::Approx(0.01));
  CHECK(s.lr(4) == doctest::Approx(0.05));
  CHECK(s.lr(9) == doctest::Approx(0.1));
  CHECK(s.lr(10) == doctest::Approx(0.1));
  CHECK(s.lr(60) == doctest::Approx(0.05));
  CHECK(s.lr(110) == 0.0);
  c.warmup_steps = 20;  // the longer of the two wins
  CHECK(Schedule(c).warmup_steps() == 20);
}

TEST_CASE("optim: multistep schedule multiplies by gamma at epoch milestones") {
  ScheduleConfig c;
  c.kind = ScheduleKind::MultiStep;
  c.base_lr = 0.1;
  c.steps_per_epoch = 10;
  c.milestones = {3, 6};
  c.gamma = 0.2;
  c.warmup_steps = 5;
  Schedule s(c);
  CHECK(s.lr(0) == doctest::Approx(0.02));
  CHECK(s.lr(5) == doctest::Approx(0.1));
  CHECK(s.lr(29) == doctest::Approx(0.1));
  CHECK(s.lr(30) == doctest::Approx(0.02));
  CHECK(s.lr(59) == doctest::Approx(0.02));
  CHECK(s.lr(60) == doctest::Approx(0.004));
  CHECK(s.lr(10000) == doctest::Approx(0.004));
}

TEST_CASE("optim: schedule configuration errors are named") {
  ScheduleConfig c;
  c.total_steps = 0;
  CHECK_THROWS_WITH_AS(Schedule{c}, doctest::Contains("total_steps"), Error);
  c.total_steps = 10;
  c.warmup_steps = 10;
  CHECK_THROWS_WITH_AS(Schedule{c}, doctest::Contains("warm-up"), Error);
  ScheduleConfig m;
  m.kind = ScheduleKind::MultiStep;
  m.milestones = {2};
  CHECK_THROWS_WITH_AS(Schedule{m}, doctest::Contains("steps_per_epoch"), Error);
  CHECK_THROWS_AS(parse_schedule_kind("linear"), Error);
  CHECK(parse_schedule_kind("multistep") == ScheduleKind::MultiStep);
}

TEST_CASE("optim: config table, set_option and defaults") {
  const std::vector<OptionInfo> options = describe_options();
  auto find = [&](const std::string& name) -> const OptionInfo* {
    for (const auto& o : options)
      if (o.name == name) return &o;
    return nullptr;
  };
  for (const char* name : {"method", "lr", "momentum", "nesterov", "weight_decay", "no_decay_bn_bias",
                           "schedule", "milestones", "rho", "asam_eta", "warmup_epochs", "kappa",
                           "r_flip", "sign", "project", "subset_label_smoothing", "clean_split",
                           "ema_beta", "max_consecutive_skips", "seed"}) {
    CAPTURE(name);
    REQUIRE(find(name) != nullptr);
    CHECK_FALSE(find(name)->help.empty());
  }
  CHECK(find("momentum")->default_value == "0.9");
  CHECK(find("project")->default_value == "true");
  CHECK(find("max_consecutive_skips")->default_value == "5");
  OptimConfig c;
  set_option(c, "--r-flip", "0.3");
  set_option(c, "project", "false");
  set_option(c, "milestones", "60,120,160");
  set_option(c, "sign", "-1");
  set_option(c, "method", "asam");
  CHECK(c.r_flip == 0.3);
  CHECK_FALSE(c.project);
  CHECK(c.milestones == std::vector<double>{60, 120, 160});
  CHECK(c.sign == -1);
  CHECK(resolved_rho(c) == 0.5);
  CHECK(resolved_warmup_epochs(c) == 50.0);  // a quarter of 200
  CHECK_NOTHROW(validate(c));
  CHECK_THROWS_WITH_AS(set_option(c, "rho", "big"), doctest::Contains("rho"), Error);
  CHECK_THROWS_WITH_AS(set_option(c, "nope", "1"), doctest::Contains("unknown option"), Error);
  c.sign = 2;
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("sign"), Error);
  CHECK(describe(OptimConfig()).find("method=sgd") != std::string::npos);
}

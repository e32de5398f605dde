// The subcommands of the `basin` binary. Each returns the process exit code;
// basin::Error escaping one is printed by main() and exits 1.
#pragma once

namespace basin::apps {

int train_main(int argc, char** argv);      // apps/train.cpp
int eval_main(int argc, char** argv);       // apps/eval.cpp
int convert_main(int argc, char** argv);    // apps/convert.cpp
int bench_main(int argc, char** argv);      // apps/bench.cpp
int sweep_main(int argc, char** argv);      // apps/sweep.cpp
int report_main(int argc, char** argv);     // apps/report.cpp
int plan_main(int argc, char** argv);       // apps/plan.cpp
int reference_main(int argc, char** argv);  // apps/reference_dump.cpp (for tests/reference/)

}  // namespace basin::apps

// basin train reads device values only on logging steps and at epoch ends:
// with --log-every 0 the steps inside an epoch read nothing back, for every
// method (counted by core/backend.h's device-to-host read counter, which on
// the CPU backend counts the same calls a GPU run would make).
#include <doctest/doctest.h>

#include <vector>

#include "apps/trainer.h"
#include "core/backend.h"
#include "apps_run_testing.h"

using namespace basin;
using namespace basin::apps;
using basin::test::have_fashion_mnist;
using basin::test::TempDir;
using basin::test::tiny_config;

TEST_CASE("apps: with logging off, the training steps inside an epoch read nothing from the device") {
  if (!have_fashion_mnist()) {
    MESSAGE("SKIPPED: Fashion-MNIST not found in ", data::kFashionMnistDir, " (apt install dataset-fashion-mnist)");
    return;
  }
  for (const char* method : {"sgd", "sam", "asam", "ncsam", "casam"}) {
    INFO(method);
    TempDir tmp("basin-device-reads");
    TrainConfig c = tiny_config(tmp.str());
    c.epochs = 1;
    c.train_limit = 384;  // 6 steps of 64
    c.optim.method = method;
    c.optim.warmup_epochs = 0;  // NCSAM and CA-SAM take their real two-pass step from the start
    c.log_every = 0;
    std::vector<uint64_t> reads;  // the counter after each step
    c.after_step = [&](int64_t) { reads.push_back(device_to_host_reads()); };
    const TrainSummary s = run_training(c);
    CHECK(s.completed);
    REQUIRE(reads.size() == 6);
    // Steps 1..4 (0-based; after the first, before the epoch's last): nothing read.
    for (size_t k = 1; k <= 4; ++k) CHECK_MESSAGE(reads[k] - reads[k - 1] == 0, "step ", k);
    // The epoch's last step reads its steps' scalars and batch counts back.
    CHECK(reads[5] - reads[4] > 0);
  }
}

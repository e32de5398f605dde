// apps: the shared flag parser and the `basin train` flag layer: unknown flags
// and malformed values are errors that name the flag; values reach TrainConfig.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "apps/flags.h"
#include "apps/train_flags.h"
#include "core/error.h"

using namespace basin;
using namespace basin::apps;

namespace {

// argv for Flags::parse; element 0 is the command name.
struct Argv {
  explicit Argv(std::vector<std::string> args) : storage(std::move(args)) {
    storage.insert(storage.begin(), "train");
    for (auto& s : storage) pointers.push_back(s.data());
  }
  int argc() { return static_cast<int>(pointers.size()); }
  char** argv() { return pointers.data(); }
  std::vector<std::string> storage;
  std::vector<char*> pointers;
};

std::string error_of(std::vector<std::string> args) {
  Flags f("train", "test");
  declare_train_flags(f);
  Argv a(std::move(args));
  try {
    f.parse(a.argc(), a.argv());
    train_config_from_flags(f);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TrainConfig config_of(std::vector<std::string> args) {
  Flags f("train", "test");
  declare_train_flags(f);
  Argv a(std::move(args));
  REQUIRE(f.parse(a.argc(), a.argv()));
  return train_config_from_flags(f);
}

}  // namespace

TEST_CASE("apps: unknown flags and malformed values are errors naming the flag") {
  const std::string unknown = error_of({"--epochz=3"});
  CHECK(unknown.find("--epochz") != std::string::npos);
  CHECK(error_of({"--epochs=three"}).find("--epochs") != std::string::npos);
  CHECK(error_of({"--epochs", "3x"}).find("--epochs") != std::string::npos);
  CHECK(error_of({"--lr=fast"}).find("--lr") != std::string::npos);
  CHECK(error_of({"--rho=0.1.2"}).find("--rho") != std::string::npos);
  CHECK(error_of({"--width=-1"}).find("--width") != std::string::npos);
  CHECK(error_of({"--batch-size=0"}).find("--batch-size") != std::string::npos);
  CHECK(error_of({"--model=resnet7"}).find("--model") != std::string::npos);
  CHECK(error_of({"--noise=sym:lots"}).find("--noise") != std::string::npos);
  CHECK(error_of({"--schedule=linear"}).find("--schedule") != std::string::npos);
  CHECK(error_of({"--schedule=multistep:"}).find("--schedule") != std::string::npos);
  CHECK(error_of({"--augment=maybe"}).find("--augment") != std::string::npos);
  CHECK(error_of({"--epochs"}).find("--epochs") != std::string::npos);  // value missing
  CHECK(error_of({"stray"}).find("stray") != std::string::npos);
  CHECK(error_of({"--optimizer=ncsam", "--ncsam-scale=unit"}).find("--ncsam-scale") != std::string::npos);
  CHECK(error_of({"--optimizer=ncsam", "--ncsam-target=clean"}).find("--ncsam-target") != std::string::npos);
  CHECK(error_of({"--optimizer=ncsam", "--sign=2"}).find("--sign") != std::string::npos);
  CHECK(error_of({"--optimizer=ncsam", "--ncsam-scale=normalized", "--ncsam-target=observed"}).empty());
  CHECK(error_of({"--epochs=3", "--optimizer=sam", "--rho=0.1"}).empty());
}

TEST_CASE("apps: train flags reach the TrainConfig and the optimizer config") {
  const TrainConfig d = config_of({});
  CHECK(d.model == "resnet20");
  CHECK(d.augment);
  CHECK(d.optim.method == "sgd");
  CHECK(d.optim.schedule == "cosine");
  CHECK(d.flags.at("lr") == "0.05");

  const TrainConfig c = config_of({"--model", "resnet32", "--width=0.25", "--epochs=7", "--batch-size=32",
                                   "--optimizer=ncsam", "--kappa=0.3", "--r-flip=0.25", "--no-project",
                                   "--nesterov", "--lr=0.2", "--weight-decay=1e-3", "--no-augment",
                                   "--schedule=multistep:3,5.5:0.2", "--noise=sym:0.4", "--noise-seed=9",
                                   "--seed=11", "--train-limit=100", "--out=/tmp/x", "--stop-after=2"});
  CHECK(c.model == "resnet32");
  CHECK(c.width == doctest::Approx(0.25));
  CHECK(c.epochs == 7);
  CHECK(c.batch_size == 32);
  CHECK(c.optim.method == "ncsam");
  CHECK(c.optim.kappa == doctest::Approx(0.3));
  CHECK(c.optim.r_flip == doctest::Approx(0.25));
  CHECK_FALSE(c.optim.project);
  CHECK(c.optim.nesterov);
  CHECK(c.optim.lr == doctest::Approx(0.2));
  CHECK(c.optim.weight_decay == doctest::Approx(1e-3));
  CHECK_FALSE(c.augment);
  CHECK(c.optim.schedule == "multistep");
  REQUIRE(c.optim.milestones.size() == 2);
  CHECK(c.optim.milestones[0] == doctest::Approx(3));
  CHECK(c.optim.milestones[1] == doctest::Approx(5.5));
  CHECK(c.optim.gamma == doctest::Approx(0.2));
  CHECK(c.noise == "sym:0.4");
  CHECK(c.noise_seed == 9);
  CHECK(c.seed == 11);
  CHECK(c.train_limit == 100);
  CHECK(c.out_dir == "/tmp/x");
  CHECK(c.stop_after == 2);
}

TEST_CASE("apps: Flags help lists every flag with its default; set_value does not mark given") {
  Flags f("demo", "summary line");
  f.add("alpha", "3", "the alpha");
  f.add_bool("beta", "the beta", true);
  const std::string help = f.help();
  CHECK(help.find("--alpha=3") != std::string::npos);
  CHECK(help.find("the alpha") != std::string::npos);
  CHECK(help.find("--[no-]beta") != std::string::npos);
  CHECK(f.on("beta"));
  Argv a({"--no-beta"});
  a.storage[0] = "demo";
  REQUIRE(f.parse(a.argc(), a.argv()));
  CHECK_FALSE(f.on("beta"));
  f.set_value("alpha", "5");
  CHECK(f.i64("alpha") == 5);
  CHECK_FALSE(f.given("alpha"));
  CHECK(f.given("beta"));
  CHECK_THROWS_AS(f.set_value("beta", "yes"), Error);
}

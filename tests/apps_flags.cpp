// apps: the shared flag parser and the `basin train` flag layer: unknown flags
// and malformed values are errors that name the flag; values reach TrainConfig.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "apps/flags.h"
#include "apps/json_writer.h"
#include "core/json.h"
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
  CHECK(error_of({"--seed=-1"}).find("flag --seed: must be >= 0, got -1") != std::string::npos);
  CHECK(error_of({"--noise-seed=-3"}).find("flag --noise-seed: must be >= 0") != std::string::npos);
  CHECK(error_of({"--epochs=3", "--optimizer=sam", "--rho=0.1"}).empty());
}

TEST_CASE("apps: --cuda-graph is off by default, reaches the config on CUDA and is refused on the CPU") {
  CHECK_FALSE(config_of({}).cuda_graph);
  const std::string cpu = error_of({"--cuda-graph"});
  CHECK(cpu.find("flag --cuda-graph") != std::string::npos);
  CHECK(cpu.find("needs --device cuda") != std::string::npos);
  CHECK(config_of({"--cuda-graph", "--device=cuda"}).cuda_graph);
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

TEST_CASE("apps: settings kept as text become typed JSON values") {
  CHECK(json_typed("true") == "true");
  CHECK(json_typed("false") == "false");
  CHECK(json_typed("0.05") == "0.05");
  CHECK(json_typed("-1") == "-1");
  CHECK(json_typed("5e-4") == "5e-4");
  CHECK(json_typed("3,5.5") == "[3,5.5]");
  CHECK(json_typed("sym:0.4") == "\"sym:0.4\"");
  CHECK(json_typed("") == "\"\"");
  CHECK(json_typed(".5") == "\".5\"");      // not JSON's number grammar: kept as text
  CHECK(json_typed("inf") == "\"inf\"");
  CHECK(json_typed("0x10") == "\"0x10\"");
  CHECK(json_typed("1,a") == "\"1,a\"");
}

TEST_CASE("apps: Flags::json types each flag by its declaration") {
  Flags f("demo", "summary");
  f.add("count", "3", "a number");
  f.add("out", "", "a path");
  f.add("mean", "", "a list as text");
  f.add_bool("fast", "a switch");
  Argv a({"--count=12", "--out=2024", "--fast", "--mean=0.5,0.25"});
  a.storage[0] = "demo";
  REQUIRE(f.parse(a.argc(), a.argv()));
  const json::Value v = json::parse(f.json(), "flags");
  CHECK(v.at("count").as_int64() == 12);
  CHECK(v.at("out").as_string() == "2024");  // a string flag stays a string whatever it looks like
  CHECK(v.at("fast").as_bool() == true);
  CHECK(v.at("mean").as_string() == "0.5,0.25");
  // The train flags of a default command line: every one present, typed.
  Flags t("train", "");
  declare_train_flags(t);
  const json::Value train = json::parse(train_flags_json({{"epochs", "4"}, {"augment", "false"}, {"bogus", "1"}}), "t");
  CHECK(train.at("epochs").as_int64() == 4);
  CHECK(train.at("augment").as_bool() == false);
  CHECK(train.at("lr").as_double() == 0.05);
  CHECK(train.find("bogus") == nullptr);
}

TEST_CASE("apps: filesystem errors read '<path>: <what failed>: <why>'") {
  const std::filesystem::filesystem_error one("cannot create directories", std::filesystem::path("/a/b"),
                                              std::make_error_code(std::errc::permission_denied));
  CHECK(format_filesystem_error(one) == "/a/b: cannot create directories: Permission denied");
  const std::filesystem::filesystem_error two("cannot rename", std::filesystem::path("/a/x.tmp"),
                                              std::filesystem::path("/a/x"),
                                              std::make_error_code(std::errc::no_such_file_or_directory));
  CHECK(format_filesystem_error(two) == "/a/x.tmp -> /a/x: cannot rename: No such file or directory");
}

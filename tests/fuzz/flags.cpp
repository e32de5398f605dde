// The command-line flag parser with `basin train`'s real declarations: the
// input, split at NUL bytes, is argv; then the flags become a TrainConfig
// (every value parsed and range-checked) as `basin train` does.
#include "apps/flags.h"
#include "apps/train_flags.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args{"basin"};
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(current);
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  args.push_back(current);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  basin::fuzz::expect_clean([&] {
    basin::apps::Flags flags("train", "fuzz");
    basin::apps::declare_train_flags(flags);
    if (!flags.parse(static_cast<int>(args.size()), argv.data())) return;  // --help
    basin::apps::train_config_from_flags(flags);
  });
  return 0;
}

// `basin <command> [flags]`: one binary, one subcommand per job.
// The subcommands live in apps/<command>.cpp; a basin::Error (or a
// filesystem error) escaping one becomes a single
// "basin <command>: error: ..." line on stderr and exit code 1.
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/error.h"

#ifndef BASIN_GIT_COMMIT
#define BASIN_GIT_COMMIT "unknown"
#endif
#ifndef BASIN_BUILD_CUDA_ARCHS
#define BASIN_BUILD_CUDA_ARCHS ""
#endif

namespace {

constexpr const char* kVersion = "0.1.0";

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

// One line per subcommand: name, entry point (apps/commands.h), summary.
const Command kCommands[] = {
    {"train", basin::apps::train_main, "train a model (SGD, SAM, ASAM, NCSAM, CA-SAM) under label noise"},
    {"eval", basin::apps::eval_main, "accuracy of a checkpoint on a dataset split; optional logits dump"},
    {"convert", basin::apps::convert_main, "write an IDX dataset (e.g. Fashion-MNIST) in the CIFAR-10 binary layout"},
    {"bench", basin::apps::bench_main, "training-step throughput and memory of the ResNets"},
    {"probe", basin::apps::probe_main, "Hessian eigenvalues and trace, SAM sharpness, loss landscapes of a checkpoint"},
    {"toy", basin::apps::toy_main, "toy experiments: label-noise (two-layer linear net, fresh label noise)"},
    {"sweep", basin::apps::sweep_main, "train a grid of configurations (flag values x seeds), resumable"},
    {"report", basin::apps::report_main, "draw runs and sweeps as one HTML page with SVG figures and tables"},
    {"plan", basin::apps::plan_main, "memory of a training step by category, measured; largest batch per GiB"},
    {"reference", basin::apps::reference_main, "dump a forward/backward for the PyTorch reference check"},
};

void usage(FILE* out) {
  std::fprintf(out,
               "usage: basin <command> [flags]   (basin <command> --help for its flags)\n"
               "       basin help [command]      basin --version\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

void print_version() {
#if defined(BASIN_HAS_CUDA)
  const std::string cuda = std::string("on, architectures ") + BASIN_BUILD_CUDA_ARCHS;
#else
  const std::string cuda = "off (CPU engine only)";
#endif
#if defined(BASIN_BUILD_CUDNN)
  const char* cudnn = "on";
#else
  const char* cudnn = "off";
#endif
  std::printf("basin %s\ncommit %s\nCUDA: %s\ncuDNN: %s\n", kVersion, BASIN_GIT_COMMIT, cuda.c_str(), cudnn);
}

int run(const Command& c, int argc, char** argv) {
  try {
    return c.run(argc, argv);
  } catch (const basin::Error& e) {
    std::fprintf(stderr, "basin %s: error: %s\n", c.name, e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "basin %s: error: %s\n", c.name, basin::apps::format_filesystem_error(e).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "basin %s: unexpected error: %s\n", c.name, e.what());
  }
  return 1;
}

const Command* find_command(const char* name) {
  for (const Command& c : kCommands)
    if (!std::strcmp(name, c.name)) return &c;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  basin::apps::program_path() = argv[0];
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "version")) {
    print_version();
    return 0;
  }
  if (!std::strcmp(argv[1], "help")) {
    if (argc < 3) {
      usage(stdout);
      return 0;
    }
    const Command* c = find_command(argv[2]);
    if (c == nullptr) {
      std::fprintf(stderr, "basin: unknown command '%s'\n", argv[2]);
      usage(stderr);
      return 2;
    }
    char help_flag[] = "--help";
    char* help_argv[] = {argv[2], help_flag, nullptr};
    return run(*c, 2, help_argv);
  }
  if (const Command* c = find_command(argv[1])) return run(*c, argc - 1, argv + 1);
  std::fprintf(stderr, "basin: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}

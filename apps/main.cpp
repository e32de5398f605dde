// `basin <command> [flags]`: one binary, one subcommand per job.
// The subcommands live in apps/<command>.cpp; a basin::Error escaping one
// becomes a single "basin <command>: error: ..." line on stderr and exit code 1.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "apps/commands.h"
#include "core/error.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

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
  std::fprintf(out, "usage: basin <command> [flags]   (basin <command> --help for its flags)\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::string(argv[1]) != c.name) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const basin::Error& e) {
      std::fprintf(stderr, "basin %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "basin %s: unexpected error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "basin: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}

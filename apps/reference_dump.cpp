// `basin reference`: one training-mode forward/backward of a CIFAR ResNet on a
// seeded random batch, dumped to a safetensors file so tests/reference/ can
// redo the same computation in PyTorch and compare (see tests/reference/README.md).
#include <cstdio>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "nn/batch_norm.h"
#include "nn/init.h"
#include "nn/models.h"
#include "nn/state_dict.h"

namespace basin::apps {

namespace {

// A fresh BatchNorm has gamma 1, beta 0, mean 0, var 1, which would let a wrong
// affine term or a wrong running-stat formula pass unnoticed; draw them instead.
void randomize_batch_norms(nn::Module& model, Generator& gen) {
  NoGrad no_grad;
  for (auto& [name, module] : model.named_modules()) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(module);
    if (!bn) continue;
    nn::init::uniform_(bn->weight, 0.5, 1.5, gen);
    nn::init::normal_(bn->bias, 0.1, gen);
    nn::init::normal_(bn->running_mean, 0.1, gen);
    nn::init::uniform_(bn->running_var, 0.5, 1.5, gen);
  }
}

// Detached copies: the forward updates running statistics in place.
NamedTensors snapshot(const NamedTensors& tensors, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [name, t] : tensors) out.push_back({prefix + name, t.detach().clone()});
  return out;
}

}  // namespace

int reference_main(int argc, char** argv) {
  Flags flags("reference",
              "One train-mode forward + backward of mean cross-entropy on a seeded random batch;\n"
              "writes weights, buffers, input, labels, logits, loss, gradients and updated\n"
              "running statistics to one safetensors file (tests/reference/check_resnet.py).");
  flags.add("model", "resnet20", "model name (resnet18, resnet20, ...)");
  flags.add("out", "", "output safetensors file (required)");
  flags.add("batch", "8", "batch size");
  flags.add("seed", "0", "seed of the model, the batch and the labels");
  flags.add("classes", "10", "number of classes");
  flags.add("size", "32", "input height and width");
  flags.add_bool("plain-bn", "keep BatchNorm at its initial values (default: random gamma, beta, running stats)");
  if (!flags.parse(argc, argv)) return 0;

  const std::string model_name = flags.str("model"), out_path = flags.str("out");
  const int64_t batch = flags.i64("batch"), classes = flags.i64("classes"), size = flags.i64("size");
  const uint64_t seed = static_cast<uint64_t>(flags.i64("seed"));
  BASIN_CHECK(!out_path.empty(), "basin reference: --out is required");
  BASIN_CHECK(batch > 1, "basin reference: --batch must be at least 2 (batch statistics), got ", batch);
  BASIN_CHECK(classes > 1, "basin reference: --classes must be at least 2, got ", classes);
  BASIN_CHECK(size >= 8, "basin reference: --size must be at least 8, got ", size);

  auto model = nn::make_model(model_name, classes, 3, 1.0, seed);
  Generator gen(seed * 1000003ull + 17);
  if (!flags.on("plain-bn")) randomize_batch_norms(*model, gen);
  model->train();

  const Tensor input = randn({batch, 3, size, size}, gen);
  std::vector<int64_t> label_values(static_cast<size_t>(batch));
  for (auto& y : label_values) y = gen.randint(classes);
  const Tensor labels = from_vector<int64_t>(label_values, {batch});

  NamedTensors dump = snapshot(nn::state_dict(*model), "");
  const NamedTensors buffers = [&] {
    NamedTensors b;
    for (auto& [name, slot] : model->named_buffers()) b.push_back({name, *slot});
    return b;
  }();

  model->zero_grad();
  const Tensor logits = model->forward(input);
  const Tensor loss = cross_entropy(logits, labels);
  loss.backward();

  dump.push_back({"input", input});
  dump.push_back({"labels", labels});
  dump.push_back({"logits", logits.detach()});
  dump.push_back({"loss", loss.detach().reshape({1})});
  for (auto& [name, slot] : model->named_parameters()) {
    const Tensor g = slot->grad();
    BASIN_CHECK(g.defined(), "basin reference: parameter ", name, " received no gradient");
    dump.push_back({"grad." + name, g});
  }
  for (auto& entry : snapshot(buffers, "after.")) dump.push_back(entry);

  safetensors::save(out_path, dump,
                    {{"model", model_name},
                     {"batch", std::to_string(batch)},
                     {"seed", std::to_string(seed)},
                     {"classes", std::to_string(classes)},
                     {"size", std::to_string(size)},
                     {"random_bn", flags.on("plain-bn") ? "false" : "true"}});
  std::printf("basin reference: %s batch %lld loss %.6f -> %s (%zu tensors)\n", model_name.c_str(),
              static_cast<long long>(batch), loss.item(), out_path.c_str(), dump.size());
  return 0;
}

}  // namespace basin::apps

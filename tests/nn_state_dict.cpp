// state_dict through safetensors: bit-exact round trip of parameters and
// buffers, and load errors that list every mismatch at once without touching the model.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "core/autograd.h"
#include "core/error.h"
#include "gradcheck.h"
#include "nn/batch_norm.h"
#include "nn/models.h"
#include "nn/state_dict.h"

using namespace basin;
using basin::testing::random_tensor;
namespace fs = std::filesystem;

namespace {

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& name)
      : path((fs::temp_directory_path() / (name + "_" + std::to_string(getpid()) + ".safetensors"))
                 .string()) {}
  ~TempFile() { std::remove(path.c_str()); }
};

// Raw bytes of a tensor, for bit-exact comparison of any dtype.
std::string bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.numel() * dtype_size(c.dtype()));
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("nn: state_dict round trip through safetensors is bit-exact") {
  TempFile file("basin_nn_sd");
  auto source = nn::make_model("resnet20", 10, 3, 0.5, uint64_t{1});
  source->forward(random_tensor({4, 3, 8, 8}, 1, DType::F32));  // non-trivial running stats
  source->forward(random_tensor({4, 3, 8, 8}, 2, DType::F32));
  nn::save_module(*source, file.path, {{"model", "resnet20"}, {"seed", "1"}});

  auto target = nn::make_model("resnet20", 10, 3, 0.5, uint64_t{2});
  const auto meta = nn::load_module(*target, file.path);
  CHECK(meta.at("model") == "resnet20");
  CHECK(meta.at("seed") == "1");
  const NamedTensors a = nn::state_dict(*source), b = nn::state_dict(*target);
  REQUIRE(a.size() == b.size());
  int differing_before_load = 0;
  auto fresh = nn::make_model("resnet20", 10, 3, 0.5, uint64_t{2});
  const NamedTensors c = nn::state_dict(*fresh);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(b[i].second.dtype() == a[i].second.dtype());
    CHECK(bytes_of(a[i].second) == bytes_of(b[i].second));
    if (bytes_of(a[i].second) != bytes_of(c[i].second)) ++differing_before_load;
  }
  CHECK(differing_before_load > 20);  // the load really changed things
  CHECK(nn::state_dict(*target)[5].first == "bn1.num_batches_tracked");
  CHECK(nn::state_dict(*target)[5].second.item() == 2.0);
  // Loaded parameters are still trainable leaves.
  for (auto& [name, p] : target->named_parameters()) CHECK(p->requires_grad());
  source->eval();
  target->eval();
  const Tensor x = random_tensor({2, 3, 8, 8}, 3, DType::F32);
  CHECK(bytes_of(source->forward(x)) == bytes_of(target->forward(x)));
}

TEST_CASE("nn: load_state_dict reports every mismatch at once and changes nothing") {
  auto model = nn::make_model("resnet20", 10, 3, 0.25, uint64_t{1});
  auto other = nn::make_model("resnet20", 100, 3, 0.25, uint64_t{2});
  NamedTensors tensors = nn::state_dict(*other);
  // drop one, add one, make one f64
  tensors.erase(tensors.begin() + 1);  // bn1.weight
  tensors.emplace_back("extra.weight", zeros({3}));
  for (auto& [name, t] : tensors)
    if (name == "layer1.0.conv1.weight") t = t.to(DType::F64);
  const std::string before = bytes_of(model->conv1->weight);

  const std::string message = error_of([&] { nn::load_state_dict(*model, tensors); });
  INFO(message);
  CHECK(message.find("5 problem(s)") != std::string::npos);
  CHECK(message.find("missing: 'bn1.weight'") != std::string::npos);
  CHECK(message.find("unexpected: 'extra.weight'") != std::string::npos);
  CHECK(message.find("shape mismatch: 'linear.weight' file [100, 16] vs model [10, 16]") !=
        std::string::npos);
  CHECK(message.find("shape mismatch: 'linear.bias' file [100] vs model [10]") != std::string::npos);
  CHECK(message.find("dtype mismatch: 'layer1.0.conv1.weight' file f64 vs model f32") !=
        std::string::npos);
  CHECK(bytes_of(model->conv1->weight) == before);

  // Non-strict: missing/unexpected tolerated, shapes are not.
  const std::string relaxed = error_of([&] { nn::load_state_dict(*model, tensors, false); });
  CHECK(relaxed.find("missing") == std::string::npos);
  CHECK(relaxed.find("unexpected") == std::string::npos);
  CHECK(relaxed.find("linear.weight") != std::string::npos);

  NamedTensors partial = {{"conv1.weight", other->conv1->weight}};
  nn::load_state_dict(*model, partial, false);
  CHECK(bytes_of(model->conv1->weight) == bytes_of(other->conv1->weight));
}

TEST_CASE("nn: load_module errors name the file") {
  TempFile file("basin_nn_sd_mismatch");
  auto big = nn::make_model("resnet20", 100, 3, 0.25, uint64_t{1});
  nn::save_module(*big, file.path);
  auto small = nn::make_model("resnet20", 10, 3, 0.25, uint64_t{1});
  const std::string message = error_of([&] { nn::load_module(*small, file.path); });
  CHECK(message.find(file.path) != std::string::npos);
  CHECK(message.find("linear.weight") != std::string::npos);
}

TEST_CASE("nn: a frozen second pass leaves a whole model's state as one pass would (SAM)") {
  auto one_pass = nn::make_model("resnet20", 10, 3, 0.25, uint64_t{4});
  auto two_pass = nn::make_model("resnet20", 10, 3, 0.25, uint64_t{4});
  const Tensor x = random_tensor({4, 3, 8, 8}, 5, DType::F32);
  one_pass->forward(x);
  two_pass->forward(x);
  {
    nn::FreezeBatchNormStats freeze;
    two_pass->forward(random_tensor({4, 3, 8, 8}, 6, DType::F32));
  }
  const NamedTensors a = nn::state_dict(*one_pass), b = nn::state_dict(*two_pass);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(bytes_of(a[i].second) == bytes_of(b[i].second));
  }
  // ...while an unfrozen second pass does move them.
  two_pass->forward(random_tensor({4, 3, 8, 8}, 6, DType::F32));
  CHECK(bytes_of(nn::state_dict(*two_pass)[3].second) != bytes_of(a[3].second));
}

// The ResNet family: parameter counts equal PyTorch's, state_dict names follow
// the CIFAR-ResNet scheme, output shapes for 3x32x32 and 1x28x28 inputs, the
// factory's errors, and seeding.
#include <doctest/doctest.h>

#include "core/autograd.h"
#include "core/error.h"
#include "gradcheck.h"
#include "nn/models.h"
#include "nn/state_dict.h"

using namespace basin;
using basin::testing::random_tensor;

// One construction per full-size model (they are large): counts and names together.
TEST_CASE("nn: parameter counts equal PyTorch's; state_dict names follow its CIFAR scheme") {
  auto shapes_of = [](nn::Module& m) {
    std::map<std::string, Shape> shapes;
    for (const auto& [name, t] : nn::state_dict(m)) shapes[name] = t.shape();
    return shapes;
  };
  {
    auto model = nn::make_model("resnet18");
    CHECK(model->num_parameters() == 11173962);
    const NamedTensors sd = nn::state_dict(*model);
    REQUIRE(sd.size() == 122);  // 62 parameters + 20 BatchNorms x 3 buffers
    const std::vector<std::string> head = {"conv1.weight",        "bn1.weight",
                                           "bn1.bias",            "bn1.running_mean",
                                           "bn1.running_var",     "bn1.num_batches_tracked",
                                           "layer1.0.conv1.weight", "layer1.0.bn1.weight"};
    for (size_t i = 0; i < head.size(); ++i) CHECK(sd[i].first == head[i]);
    CHECK(sd[sd.size() - 2].first == "linear.weight");
    CHECK(sd[sd.size() - 1].first == "linear.bias");
    const auto shapes = shapes_of(*model);
    CHECK(shapes.at("layer2.0.shortcut.0.weight") == Shape{128, 64, 1, 1});
    CHECK(shapes.at("layer2.0.shortcut.1.running_var") == Shape{128});
    CHECK(shapes.at("layer4.1.conv2.weight") == Shape{512, 512, 3, 3});
    CHECK(shapes.at("bn1.num_batches_tracked") == Shape{});
    CHECK(shapes.at("linear.weight") == Shape{10, 512});
    CHECK(shapes.count("layer1.0.shortcut.0.weight") == 0);
  }
  CHECK(nn::make_model("resnet34")->num_parameters() == 21282122);
  {
    auto model = nn::make_model("resnet50");
    CHECK(model->num_parameters() == 23520842);
    const auto shapes = shapes_of(*model);
    CHECK(shapes.at("layer1.0.conv3.weight") == Shape{256, 64, 1, 1});
    CHECK(shapes.at("layer1.0.shortcut.0.weight") == Shape{256, 64, 1, 1});
    CHECK(shapes.at("linear.weight") == Shape{10, 2048});
  }
  {
    auto model = nn::make_model("preact_resnet18");
    CHECK(model->num_parameters() == 11171146);
    const auto shapes = shapes_of(*model);
    CHECK(shapes.count("bn1.weight") == 0);
    CHECK(shapes.at("layer2.0.bn1.weight") == Shape{64});
    CHECK(shapes.at("layer2.0.shortcut.0.weight") == Shape{128, 64, 1, 1});
    CHECK(shapes.count("layer2.0.shortcut.1.weight") == 0);
  }
  {
    // He et al. 2016 option A (parameter-free shortcuts): 0.27M.
    auto model = nn::make_model("resnet20");
    CHECK(model->num_parameters() == 269722);
    for (const auto& [name, t] : nn::state_dict(*model))
      CHECK(name.find("shortcut") == std::string::npos);
  }
  CHECK(nn::make_model("resnet32")->num_parameters() == 464154);
  CHECK(nn::make_model("resnet56")->num_parameters() == 853018);
  // The same ResNet-20 with projection (conv+BN) shortcuts: 272,474.
  nn::ResNetConfig b = nn::model_config("resnet20");
  b.shortcut = nn::ShortcutKind::Projection;
  CHECK(nn::ResNet(b).num_parameters() == 272474);
  CHECK(nn::make_model("resnet20", 100)->num_parameters() == 269722 + 90 * 64 + 90);
}

TEST_CASE("nn: every model maps 3x32x32 and 1x28x28 batches to logits") {
  for (const std::string& name : nn::model_names()) {
    INFO(name);
    const double width = name == "resnet20" || name == "resnet32" || name == "resnet56" ? 0.25 : 0.0625;
    auto rgb = nn::make_model(name, 10, 3, width, uint64_t{1});
    CHECK(rgb->forward(random_tensor({2, 3, 32, 32}, 1, DType::F32)).shape() == Shape{2, 10});
    auto gray = nn::make_model(name, 7, 1, width, uint64_t{1});
    gray->eval();
    const Tensor y = gray->forward(random_tensor({3, 1, 28, 28}, 2, DType::F32));
    CHECK(y.shape() == Shape{3, 7});
    for (double v : y.to_vector<float>()) CHECK(std::isfinite(v));
  }
  CHECK_THROWS_AS(nn::make_model("resnet18")->forward(random_tensor({1, 1, 8, 8}, 3, DType::F32)),
                  Error);
}

TEST_CASE("nn: the ResNet forward equals its parts composed by hand") {
  auto model = nn::make_model("resnet20", 4, 3, 0.5, uint64_t{3});
  model->eval();  // keeps the composition independent of batch statistics updates
  const Tensor x = random_tensor({2, 3, 8, 8}, 4, DType::F32);
  Tensor h = relu((*model->bn1)((*model->conv1)(x)));
  for (auto& stage : model->layers)
    for (auto& child : stage->children()) h = child.second->forward(h);
  const Tensor expected = (*model->linear)(global_avg_pool2d(h));
  CHECK(model->forward(x).to_vector<float>() == expected.to_vector<float>());
}

TEST_CASE("nn: make_model errors list the valid names; seeds fix the weights") {
  std::string message;
  try {
    nn::make_model("resnet19");
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("resnet19") != std::string::npos);
  for (const auto& n : nn::model_names()) CHECK(message.find(n) != std::string::npos);

  auto a = nn::make_model("resnet20", 10, 3, 0.25, uint64_t{5});
  auto b = nn::make_model("resnet20", 10, 3, 0.25, uint64_t{5});
  auto c = nn::make_model("resnet20", 10, 3, 0.25, uint64_t{6});
  const auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  bool all_same = true, any_diff_c = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    all_same = all_same && pa[i].second->to_vector<float>() == pb[i].second->to_vector<float>();
    any_diff_c = any_diff_c || pa[i].second->to_vector<float>() != pc[i].second->to_vector<float>();
  }
  CHECK(all_same);
  CHECK(any_diff_c);
}

// Label-noise protocols checked against docs/algorithms.md "Label-noise protocols": realised
// rates, which class pairs may change, determinism per seed, the file format
// and the spec parser's errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "data/noise.h"
#include "data_temp_dir.h"

using namespace basin;
using namespace basin::data;
using basin::test::error_message;
using basin::test::TempDir;

namespace {

// Random labels (every class present), small random images, and constants
// from the data.
Dataset synthetic(const std::string& name, int classes, int64_t n, uint32_t seed, int side = 4) {
  std::mt19937 rng(seed);
  Dataset ds;
  ds.name = name;
  ds.num_classes = classes;
  ds.images = empty({n, 3, side, side}, DType::U8);
  for (int64_t k = 0; k < ds.images.numel(); ++k) ds.images.data<uint8_t>()[k] = static_cast<uint8_t>(rng());
  ds.labels = empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) ds.labels.data<int64_t>()[i] = static_cast<int64_t>(rng() % classes);
  const Normalization norm = compute_normalization(ds.images);
  ds.mean = norm.mean;
  ds.std = norm.std;
  return ds;
}

// Recounts changes and the transition matrix independently of apply_noise.
void check_bookkeeping(const Dataset& ds, const NoisyLabels& noise) {
  const std::vector<int64_t> clean = ds.labels.to_vector<int64_t>();
  const std::vector<int64_t> noisy = noise.noisy.to_vector<int64_t>();
  REQUIRE(noisy.size() == clean.size());
  const int c = ds.num_classes;
  std::vector<int64_t> t(c * c, 0);
  int64_t changed = 0;
  for (size_t i = 0; i < clean.size(); ++i) {
    REQUIRE((noisy[i] >= 0 && noisy[i] < c));
    ++t[clean[i] * c + noisy[i]];
    changed += noisy[i] != clean[i];
  }
  CHECK(noise.transition == t);
  CHECK(noise.changed == changed);
  CHECK(noise.realised_rate == doctest::Approx(double(changed) / clean.size()));
}

}  // namespace

TEST_CASE("data: noise none and bad specs") {
  const Dataset ds = synthetic("cifar10", 10, 100, 1);
  const NoisyLabels none = apply_noise(ds, "none", 3);
  CHECK(none.noisy.to_vector<int64_t>() == ds.labels.to_vector<int64_t>());
  CHECK(none.realised_rate == 0.0);
  for (const char* bad : {"sym", "sym:", "sym:abc", "sym:1.5", "sym:-0.1", "gauss:0.2", "file:", "asym:0.2x"}) {
    const std::string msg = error_message([&] { parse_noise_spec(bad); });
    CHECK_MESSAGE(msg.find("accepted forms") != std::string::npos, bad, " -> ", msg);
    CHECK_MESSAGE(msg.find("symflip:R") != std::string::npos, msg);
  }
  const NoiseSpec s = parse_noise_spec("asym-super:0.25");
  CHECK(s.kind == "asym-super");
  CHECK(s.rate == 0.25);
}

TEST_CASE("data: sym noise resamples exactly floor(rN) labels uniformly") {
  const int64_t n = 20000;
  const Dataset ds = synthetic("cifar10", 10, n, 2);
  const NoisyLabels noise = apply_noise(ds, "sym:0.4", 11);
  check_bookkeeping(ds, noise);
  // 8000 resampled; each keeps its label with probability 1/10.
  CHECK(noise.changed <= 8000);
  CHECK(noise.realised_rate == doctest::Approx(0.4 * 9 / 10).epsilon(0.03));
  // Resampled labels are uniform over the other classes: every off-diagonal
  // cell expects 8000/100 = 80.
  for (int a = 0; a < 10; ++a)
    for (int b = 0; b < 10; ++b)
      if (a != b) CHECK((noise.count(a, b) > 40 && noise.count(a, b) < 130));
  // Tiny N: floor(0.35 * 10) = 3 at most.
  const Dataset small = synthetic("cifar10", 10, 10, 3);
  for (uint64_t seed = 0; seed < 20; ++seed) CHECK(apply_noise(small, "sym:0.35", seed).changed <= 3);
  // r = 1 with 2 classes: every label redrawn, half change.
  const Dataset two = synthetic("x", 2, 4000, 4);
  CHECK(apply_noise(two, "sym:1", 5).realised_rate == doctest::Approx(0.5).epsilon(0.08));
}

TEST_CASE("data: symflip noise flips with probability r, never to itself") {
  const Dataset ds = synthetic("cifar10", 10, 20000, 5);
  const NoisyLabels noise = apply_noise(ds, "symflip:0.3", 12);
  check_bookkeeping(ds, noise);
  CHECK(noise.realised_rate == doctest::Approx(0.3).epsilon(0.05));
  const NoisyLabels all = apply_noise(ds, "symflip:1.0", 12);
  CHECK(all.changed == ds.size());
  for (int a = 0; a < 10; ++a) CHECK(all.count(a, a) == 0);
}

TEST_CASE("data: asym noise changes only the listed class pairs") {
  const Dataset ds = synthetic("cifar10", 10, 30000, 6);
  const NoisyLabels noise = apply_noise(ds, "asym:0.4", 13);
  check_bookkeeping(ds, noise);
  const std::vector<int64_t> counts = class_counts(ds.labels, 10);
  const std::vector<std::pair<int, int>> pairs = {{9, 1}, {2, 0}, {4, 7}, {3, 5}, {5, 3}};
  int64_t expected_changes = 0;
  for (int a = 0; a < 10; ++a)
    for (int b = 0; b < 10; ++b) {
      if (a == b) continue;
      const bool listed = std::find(pairs.begin(), pairs.end(), std::make_pair(a, b)) != pairs.end();
      if (listed) {
        CHECK(double(noise.count(a, b)) / counts[a] == doctest::Approx(0.4).epsilon(0.1));
        expected_changes += counts[a];
      } else {
        CHECK(noise.count(a, b) == 0);
      }
    }
  CHECK(noise.realised_rate == doctest::Approx(0.4 * expected_changes / 30000.0).epsilon(0.05));

  const Dataset fm = synthetic("fashion-mnist", 10, 20000, 7);
  const NoisyLabels fn = apply_noise(fm, "asym:1.0", 1);
  const std::vector<std::pair<int, int>> fpairs = {{6, 0}, {2, 4}, {5, 7}, {9, 7}};
  const std::vector<int64_t> fcounts = class_counts(fm.labels, 10);
  for (int a = 0; a < 10; ++a)
    for (int b = 0; b < 10; ++b) {
      const bool listed = std::find(fpairs.begin(), fpairs.end(), std::make_pair(a, b)) != fpairs.end();
      const bool source = a == 6 || a == 2 || a == 5 || a == 9;
      const int64_t want = listed ? fcounts[a] : (a == b && !source ? fcounts[a] : 0);
      CHECK(fn.count(a, b) == want);
    }

  const Dataset c100 = synthetic("cifar100", 100, 20000, 8);
  const NoisyLabels cn = apply_noise(c100, "asym:1.0", 2);
  const std::vector<int64_t> ccounts = class_counts(c100.labels, 100);
  for (int a = 0; a < 100; ++a) {
    const int next = (a % 5 == 4) ? a - 4 : a + 1;  // next within the block of 5
    CHECK(cn.count(a, next) == ccounts[a]);
  }

  const std::string msg = error_message([&] { apply_noise(synthetic("mnist", 10, 50, 9), "asym:0.2", 1); });
  CHECK_MESSAGE(msg.find("mnist") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("cifar10") != std::string::npos, msg);
}

TEST_CASE("data: asym-super noise follows the coarse labels") {
  Dataset ds = synthetic("cifar100", 100, 20000, 10);
  std::string msg = error_message([&] { apply_noise(ds, "asym-super:0.3", 1); });
  CHECK_MESSAGE(msg.find("coarse") != std::string::npos, msg);
  // Superclass k holds fine classes {k, k+20, k+40, k+60, k+80}.
  ds.coarse_labels = empty({ds.size()}, DType::I64);
  for (int64_t i = 0; i < ds.size(); ++i) ds.coarse_labels.data<int64_t>()[i] = ds.labels.data<int64_t>()[i] % 20;
  const NoisyLabels noise = apply_noise(ds, "asym-super:0.3", 1);
  check_bookkeeping(ds, noise);
  const std::vector<int64_t> counts = class_counts(ds.labels, 100);
  int64_t off_target = 0;
  for (int a = 0; a < 100; ++a) {
    const int next = (a + 20) % 100;
    for (int b = 0; b < 100; ++b)
      if (b != a && b != next) off_target += noise.count(a, b);
  }
  CHECK(off_target == 0);
  CHECK(noise.realised_rate == doctest::Approx(0.3).epsilon(0.06));
  // Inconsistent coarse labels are an error.
  ds.coarse_labels.data<int64_t>()[0] = (ds.labels.data<int64_t>()[0] % 20 + 1) % 20;
  msg = error_message([&] { apply_noise(ds, "asym-super:0.3", 1); });
  CHECK_MESSAGE(msg.find("fine class") != std::string::npos, msg);
}

TEST_CASE("data: pair noise flips i to i+1 mod C") {
  const Dataset ds = synthetic("anything", 7, 14000, 11);
  const NoisyLabels noise = apply_noise(ds, "pair:0.45", 3);
  check_bookkeeping(ds, noise);
  const std::vector<int64_t> counts = class_counts(ds.labels, 7);
  for (int a = 0; a < 7; ++a)
    for (int b = 0; b < 7; ++b) {
      if (b == (a + 1) % 7) CHECK(double(noise.count(a, b)) / counts[a] == doctest::Approx(0.45).epsilon(0.12));
      else if (b != a) CHECK(noise.count(a, b) == 0);
    }
  CHECK(noise.realised_rate == doctest::Approx(0.45).epsilon(0.05));
}

TEST_CASE("data: inst noise realises a rate near r without self-flips") {
  const Dataset ds = synthetic("cifar10", 10, 6000, 12, 6);
  const NoisyLabels noise = apply_noise(ds, "inst:0.4", 4);
  check_bookkeeping(ds, noise);
  // E[changed] = E[clip(N(0.4, 0.1^2), 0, 1)] = 0.4; sd of the mean ~ 0.5/sqrt(6000).
  CHECK(noise.realised_rate == doctest::Approx(0.4).epsilon(0.06));
  // Instance-dependent: the flips out of a class are spread over several
  // targets chosen by the images, not one fixed pair.
  int targets_of_0 = 0;
  for (int b = 1; b < 10; ++b) targets_of_0 += noise.count(0, b) > 0;
  CHECK(targets_of_0 >= 3);
  // r = 0 still flips: q ~ N(0, 0.1^2) clipped at 0 has mean 0.1/sqrt(2 pi).
  const NoisyLabels low = apply_noise(ds, "inst:0", 4);
  CHECK(low.realised_rate == doctest::Approx(0.1 / std::sqrt(2 * 3.14159265358979)).epsilon(0.25));
  const NoisyLabels again = apply_noise(ds, "inst:0.4", 4);
  CHECK(again.noisy.to_vector<int64_t>() == noise.noisy.to_vector<int64_t>());
  CHECK(apply_noise(ds, "inst:0.4", 5).noisy.to_vector<int64_t>() != noise.noisy.to_vector<int64_t>());
}

TEST_CASE("data: noise is deterministic per seed and differs across seeds") {
  const Dataset ds = synthetic("cifar10", 10, 3000, 13);
  for (const char* spec : {"sym:0.3", "symflip:0.3", "asym:0.3", "pair:0.3"}) {
    const auto a = apply_noise(ds, spec, 42).noisy.to_vector<int64_t>();
    const auto b = apply_noise(ds, spec, 42).noisy.to_vector<int64_t>();
    const auto c = apply_noise(ds, spec, 43).noisy.to_vector<int64_t>();
    CHECK_MESSAGE(a == b, spec);
    CHECK_MESSAGE(a != c, spec);
  }
  // The clean labels are untouched.
  const auto before = ds.labels.to_vector<int64_t>();
  apply_noise(ds, "sym:0.8", 1);
  CHECK(ds.labels.to_vector<int64_t>() == before);
}

TEST_CASE("data: file noise round trip and its errors name the line") {
  TempDir dir;
  const Dataset ds = synthetic("cifar10", 10, 500, 14);
  const NoisyLabels noise = apply_noise(ds, "sym:0.5", 9);
  const std::string path = dir.file("noisy.txt");
  write_label_file(path, noise.noisy);
  const NoisyLabels back = apply_noise(ds, "file:" + path, 0);
  CHECK(back.noisy.to_vector<int64_t>() == noise.noisy.to_vector<int64_t>());
  CHECK(back.realised_rate == noise.realised_rate);
  CHECK(back.transition == noise.transition);

  auto write_text = [&](const std::string& text) {
    basin::test::write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
  };
  std::string lines;
  for (int i = 0; i < 500; ++i) lines += (i == 2 ? std::string("abc") : std::to_string(i % 10)) + "\n";
  write_text(lines);
  std::string msg = error_message([&] { apply_noise(ds, "file:" + path, 0); });
  CHECK_MESSAGE(msg.find("line 3") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);

  write_text("1\n10\n");
  msg = error_message([&] { apply_noise(ds, "file:" + path, 0); });
  CHECK_MESSAGE(msg.find("line 2") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("out of range") != std::string::npos, msg);

  write_text("1\n2\n3\n4\n");
  msg = error_message([&] { apply_noise(ds, "file:" + path, 0); });
  CHECK_MESSAGE(msg.find("has 4 labels") != std::string::npos, msg);

  msg = error_message([&] { apply_noise(ds, "file:" + dir.file("missing.txt"), 0); });
  CHECK_MESSAGE(msg.find("missing.txt") != std::string::npos, msg);
}

TEST_CASE("data: noise report shows the rate and the transition counts") {
  const Dataset ds = synthetic("cifar10", 10, 2000, 15);
  const NoisyLabels noise = apply_noise(ds, "asym:0.5", 3);
  const std::string text = format_noise_report(noise, {"airplane", "automobile", "bird", "cat", "deer", "dog",
                                                       "frog", "horse", "ship", "truck"});
  CHECK(text.find("asym:0.5") != std::string::npos);
  CHECK(text.find("realised rate") != std::string::npos);
  CHECK(text.find(std::to_string(noise.changed)) != std::string::npos);
  CHECK(text.find(std::to_string(noise.count(9, 1))) != std::string::npos);
  // A header row names the columns (noisy labels 0..9); each row starts with its clean label and name.
  CHECK(text.find("clean \\ noisy") != std::string::npos);
  CHECK(text.find("     0      1      2      3      4      5      6      7      8      9\n") != std::string::npos);
  CHECK(text.find("\n  9 truck") != std::string::npos);
  const Dataset c100 = synthetic("cifar100", 100, 2000, 16);
  const std::string big = format_noise_report(apply_noise(c100, "pair:0.5", 1));
  CHECK(big.find("->") != std::string::npos);
}

// BatchIterator: permutations per epoch, reproducible order per (seed, epoch),
// exact resume at (epoch, step), drop_last counts, and batches whose images
// and labels are the dataset's rows at the reported indices.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "data/batch_iterator.h"

using namespace basin;
using namespace basin::data;

namespace {

// Sample i's four pixels encode i, so a batch's images can be checked against its indices.
Dataset indexed_dataset(int64_t n) {
  Dataset ds;
  ds.name = "indexed";
  ds.num_classes = 7;
  ds.images = empty({n, 1, 2, 2}, DType::U8);
  ds.labels = empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* p = ds.images.data<uint8_t>() + i * 4;
    p[0] = static_cast<uint8_t>(i % 256);
    p[1] = static_cast<uint8_t>(i / 256);
    p[2] = static_cast<uint8_t>(255 - i % 256);
    p[3] = 17;
    ds.labels.data<int64_t>()[i] = (i * 5 + 3) % 7;
  }
  ds.mean = {0.5};
  ds.std = {0.25};
  return ds;
}

Tensor noisy_for(const Dataset& ds) {
  Tensor noisy = empty({ds.size()}, DType::I64);
  for (int64_t i = 0; i < ds.size(); ++i) noisy.data<int64_t>()[i] = (ds.labels.data<int64_t>()[i] + (i % 3 == 0)) % 7;
  return noisy;
}

// All batches of one epoch as index lists, checking every batch's contents.
std::vector<std::vector<int64_t>> run_epoch(BatchIterator& it, const Dataset& ds, const Tensor& noisy) {
  std::vector<std::vector<int64_t>> batches;
  Batch b;
  const int64_t epoch = it.epoch();
  const int64_t first_step = it.step();
  while (it.next(b)) {
    CHECK(b.epoch == epoch);
    CHECK(b.step == first_step + static_cast<int64_t>(batches.size()));
    const std::vector<int64_t> idx = b.indices.to_vector<int64_t>();
    const std::vector<uint8_t> px = b.images.to_vector<uint8_t>();
    const std::vector<int64_t> clean = b.clean_labels.to_vector<int64_t>();
    const std::vector<int64_t> nl = b.noisy_labels.to_vector<int64_t>();
    REQUIRE(b.images.shape() == Shape{static_cast<int64_t>(idx.size()), 1, 2, 2});
    CHECK(b.images.dtype() == DType::U8);
    int bad = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      const int64_t i = idx[k];
      if (px[k * 4] != i % 256 || px[k * 4 + 1] != i / 256 || px[k * 4 + 2] != 255 - i % 256) ++bad;
      if (clean[k] != ds.labels.data<int64_t>()[i] || nl[k] != noisy.data<int64_t>()[i]) ++bad;
    }
    CHECK(bad == 0);
    batches.push_back(idx);
  }
  CHECK(it.epoch() == epoch + 1);
  CHECK(it.step() == 0);
  return batches;
}

std::vector<int64_t> flatten(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

}  // namespace

TEST_CASE("data: batch iterator epochs are permutations with correct contents") {
  const Dataset ds = indexed_dataset(300);
  const Tensor noisy = noisy_for(ds);
  BatchIteratorOptions opt;
  opt.batch_size = 32;
  opt.seed = 7;
  BatchIterator it(ds, noisy, opt);
  CHECK(it.steps_per_epoch() == 10);
  const auto e0 = run_epoch(it, ds, noisy);
  const auto e1 = run_epoch(it, ds, noisy);
  REQUIRE(e0.size() == 10);
  CHECK(e0.back().size() == 300 - 9 * 32);
  for (const auto& epoch : {e0, e1}) {
    std::vector<int64_t> all = flatten(epoch);
    std::sort(all.begin(), all.end());
    std::vector<int64_t> want(300);
    std::iota(want.begin(), want.end(), 0);
    CHECK(all == want);
  }
  CHECK(flatten(e0) != flatten(e1));  // reshuffled each epoch
  std::vector<int64_t> identity(300);
  std::iota(identity.begin(), identity.end(), 0);
  CHECK(flatten(e0) != identity);
  CHECK(flatten(e0) == it.epoch_order(0));

  // Same seed, same order; another seed, another order.
  BatchIterator same(ds, noisy, opt);
  CHECK(flatten(run_epoch(same, ds, noisy)) == flatten(e0));
  opt.seed = 8;
  BatchIterator other(ds, noisy, opt);
  CHECK(flatten(run_epoch(other, ds, noisy)) != flatten(e0));
}

TEST_CASE("data: batch iterator resumes at (epoch, step) with the same remaining batches") {
  const Dataset ds = indexed_dataset(130);
  const Tensor noisy = noisy_for(ds);
  BatchIteratorOptions opt;
  opt.batch_size = 16;
  opt.seed = 99;
  BatchIterator full(ds, noisy, opt);
  run_epoch(full, ds, noisy);
  run_epoch(full, ds, noisy);
  const auto e2 = run_epoch(full, ds, noisy);

  opt.start_epoch = 2;
  opt.start_step = 5;
  BatchIterator resumed(ds, noisy, opt);
  const auto rest = run_epoch(resumed, ds, noisy);
  REQUIRE(rest.size() == e2.size() - 5);
  for (size_t k = 0; k < rest.size(); ++k) CHECK(rest[k] == e2[k + 5]);

  // seek() on a used iterator, with prefetching off, gives the same batches.
  opt.start_epoch = 0;
  opt.start_step = 0;
  opt.prefetch = false;
  BatchIterator seeker(ds, noisy, opt);
  Batch b;
  REQUIRE(seeker.next(b));
  seeker.seek(2, 3);
  REQUIRE(seeker.next(b));
  CHECK(b.epoch == 2);
  CHECK(b.step == 3);
  CHECK(b.indices.to_vector<int64_t>() == e2[3]);
}

TEST_CASE("data: batch iterator drop_last, no shuffle, clean labels by default") {
  const Dataset ds = indexed_dataset(100);
  BatchIteratorOptions opt;
  opt.batch_size = 30;
  opt.drop_last = true;
  opt.shuffle = false;
  BatchIterator it(ds, Tensor(), opt);
  CHECK(it.steps_per_epoch() == 3);
  const auto e0 = run_epoch(it, ds, ds.labels);
  REQUIRE(e0.size() == 3);
  std::vector<int64_t> first90(90);
  std::iota(first90.begin(), first90.end(), 0);
  CHECK(flatten(e0) == first90);
  opt.drop_last = false;
  BatchIterator keep(ds, Tensor(), opt);
  CHECK(keep.steps_per_epoch() == 4);
  CHECK(run_epoch(keep, ds, ds.labels).back().size() == 10);

  opt.batch_size = 0;
  CHECK_THROWS_AS(BatchIterator(ds, Tensor(), opt), basin::Error);
  opt.batch_size = 10;
  CHECK_THROWS_AS(BatchIterator(ds, empty({3}, DType::I64), opt), basin::Error);
}

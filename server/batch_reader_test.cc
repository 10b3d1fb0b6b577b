// BatchReader on a real store: what a batch holds, and that a prepared batch equals reading it
// on demand.
#include "server/batch_reader.h"

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "learner/model/image_io.h"
#include "learner/model/preprocess.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace perennial {
namespace {

class BatchReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.dir = tmp_.path();
    options.base_model_id = "clip-a";
    options.sync_writes = false;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Appends samples 0..count-1; every `eval_every`-th is EVAL, `corrupt` (an index) does not
  // decode.
  void Append(uint32_t count, uint32_t eval_every, int64_t corrupt = -1) {
    std::vector<v1::Sample> samples;
    for (uint32_t i = 0; i < count; ++i) {
      v1::Sample sample = MakeTestSample(i);
      if (eval_every > 0 && i % eval_every == eval_every - 1) sample.set_split(v1::Sample::EVAL);
      if (static_cast<int64_t>(i) == corrupt) sample.mutable_image()->set_encoded("not an image");
      samples.push_back(std::move(sample));
    }
    ASSERT_TRUE(store_->AppendSamples(std::move(samples)).ok());
  }

  static BatchReaderOptions Options(bool prefetch) {
    BatchReaderOptions options;
    options.batch_size = 4;
    options.preprocess.resolution = 32;
    options.prefetch = prefetch;
    return options;
  }

  TempDir tmp_;
  std::unique_ptr<Store> store_;
};

void ExpectSameBatch(const DecodedBatch& a, const DecodedBatch& b) {
  EXPECT_EQ(a.after_seq, b.after_seq);
  EXPECT_EQ(a.last_seq, b.last_seq);
  EXPECT_EQ(a.oldest_received, b.oldest_received);
  EXPECT_EQ(a.train_labels, b.train_labels);
  EXPECT_EQ(a.eval_labels, b.eval_labels);
  EXPECT_EQ(a.skipped, b.skipped);
  ASSERT_EQ(a.train_pixels.size(), b.train_pixels.size());
  for (size_t i = 0; i < a.train_pixels.size(); ++i) {
    EXPECT_TRUE(torch::equal(a.train_pixels[i], b.train_pixels[i])) << i;
  }
  ASSERT_EQ(a.eval_pixels.size(), b.eval_pixels.size());
  for (size_t i = 0; i < a.eval_pixels.size(); ++i) {
    EXPECT_TRUE(torch::equal(a.eval_pixels[i], b.eval_pixels[i])) << i;
  }
}

TEST_F(BatchReaderTest, SplitsTrainFromEvalAndSkipsWhatDoesNotDecode) {
  Append(10, /*eval_every=*/3, /*corrupt=*/1);  // seq 2 corrupt, seqs 3, 6, 9 EVAL
  BatchReader reader(store_.get(), Options(/*prefetch=*/false));
  DecodedBatch batch = reader.Take(0);
  // TRAIN seqs 1, 4, 5, 7 fill the batch; 3 and 6 are EVAL on the way.
  EXPECT_EQ(batch.after_seq, 0u);
  EXPECT_EQ(batch.last_seq, 7u);
  EXPECT_EQ(batch.train_labels, (std::vector<std::string>{"class0", "class3", "class4", "class6"}));
  EXPECT_EQ(batch.eval_labels, (std::vector<std::string>{"class2", "class5"}));
  EXPECT_EQ(batch.skipped, 1u);
  ASSERT_EQ(batch.train_pixels.size(), 4u);
  EXPECT_EQ(batch.train_pixels[0].sizes(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_FALSE(torch::equal(batch.train_pixels[0], batch.train_pixels[1]));
  // The rest of the log: a partial batch, then nothing.
  batch = reader.Take(7);
  EXPECT_EQ(batch.last_seq, 10u);
  EXPECT_EQ(batch.train_labels, (std::vector<std::string>{"class7", "class9"}));
  EXPECT_EQ(batch.eval_labels, (std::vector<std::string>{"class8"}));
  batch = reader.Take(10);
  EXPECT_EQ(batch.last_seq, 10u);
  EXPECT_TRUE(batch.train_pixels.empty());
  EXPECT_EQ(batch.oldest_received, absl::Time());
}

TEST_F(BatchReaderTest, PreparedBatchesEqualBatchesReadOnDemand) {
  Append(40, /*eval_every=*/5, /*corrupt=*/13);
  BatchReader prefetching(store_.get(), Options(/*prefetch=*/true));
  BatchReader on_demand(store_.get(), Options(/*prefetch=*/false));
  uint64_t after = 0;
  for (uint64_t taken = 1; after < 40; ++taken) {
    if (taken > 1 && store_->LastSeq() >= after + 4) {
      // The batch after the previous one is being prepared; let it finish, so that this Take
      // is served from it rather than reading itself.
      for (int i = 0; i < 500 && prefetching.batches_prepared() < taken - 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      ASSERT_EQ(prefetching.batches_prepared(), taken - 1);
    }
    const DecodedBatch prepared = prefetching.Take(after);
    ExpectSameBatch(prepared, on_demand.Take(after));
    ASSERT_GT(prepared.last_seq, after);
    after = prepared.last_seq;
  }
  EXPECT_EQ(on_demand.batches_prepared(), 0u);
}

TEST_F(BatchReaderTest, DecodeThreadsGiveTheSameBatches) {
  Append(30, /*eval_every=*/4, /*corrupt=*/6);
  BatchReaderOptions options = Options(/*prefetch=*/false);
  options.decode_threads = 3;
  BatchReader parallel(store_.get(), options);
  BatchReader serial(store_.get(), Options(/*prefetch=*/false));
  for (uint64_t after = 0; after < 30;) {
    const DecodedBatch batch = parallel.Take(after);
    ExpectSameBatch(batch, serial.Take(after));
    after = batch.last_seq;
  }
}

TEST_F(BatchReaderTest, APreparedBatchForAnotherCursorIsNotServed) {
  Append(24, /*eval_every=*/0);
  BatchReader reader(store_.get(), Options(/*prefetch=*/true));
  EXPECT_EQ(reader.Take(0).last_seq, 4u);  // starts preparing the batch after seq 4
  for (int i = 0; i < 500 && reader.batches_prepared() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(reader.batches_prepared(), 1u);
  // A rollback moved the cursor to 12: the batch after 4 is stale.
  const DecodedBatch batch = reader.Take(12);
  EXPECT_EQ(batch.after_seq, 12u);
  EXPECT_EQ(batch.last_seq, 16u);
  EXPECT_EQ(batch.train_labels, (std::vector<std::string>{"class2", "class3", "class4", "class5"}));
}

// The learner trains on what queries see: with draft_min_side, a logged JPEG is decoded reduced.
TEST_F(BatchReaderTest, DecodesLoggedJpegsReducedWithADraftSide) {
  const std::string file = "tests/fixtures/images/photo_80x120.jpg";
  std::ifstream in(file, std::ios::binary);
  v1::Sample sample = MakeTestSample(0);
  sample.mutable_image()->set_encoded(std::string(std::istreambuf_iterator<char>(in), {}));
  ASSERT_TRUE(store_->AppendSamples({sample}).ok());
  PreprocessOptions preprocess;
  preprocess.resolution = 16;
  DecodeOptions reduced;
  reduced.draft_min_side = 32;  // 80x120 -> 40x60
  const torch::Tensor drafted = PreprocessImage(*ReadImageFile(file, reduced), preprocess);
  const torch::Tensor full = PreprocessImage(*ReadImageFile(file), preprocess);
  ASSERT_FALSE(torch::equal(drafted, full));
  for (const int draft_min_side : {32, 0}) {
    SCOPED_TRACE(draft_min_side);
    BatchReaderOptions options = Options(/*prefetch=*/false);
    options.preprocess = preprocess;
    options.draft_min_side = draft_min_side;
    const DecodedBatch batch = BatchReader(store_.get(), options).Take(0);
    ASSERT_EQ(batch.train_pixels.size(), 1u);
    EXPECT_TRUE(torch::equal(batch.train_pixels[0], draft_min_side > 0 ? drafted : full));
  }
}

}  // namespace
}  // namespace perennial

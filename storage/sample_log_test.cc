// Store's sample log: append and read back, deduplication, concurrent group commit.
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace perennial {
namespace {

class SampleLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenTestStore(tmp_.path());
    ASSERT_NE(store_, nullptr);
  }

  TempDir tmp_;
  std::unique_ptr<Store> store_;
};

TEST_F(SampleLogTest, AppendAndReadBackBytesEqual) {
  std::vector<v1::Sample> batch;
  for (uint32_t i = 0; i < 4; ++i) batch.push_back(MakeTestSample(i));
  batch[2].set_split(v1::Sample::EVAL);
  const std::vector<v1::Sample> sent = batch;
  absl::StatusOr<std::vector<AppendResult>> results = store_->AppendSamples(std::move(batch));
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*results)[i].seq, i + 1);
    EXPECT_FALSE((*results)[i].duplicate);
  }
  EXPECT_EQ(store_->LastSeq(), 4u);

  absl::StatusOr<std::vector<v1::StoredSample>> read = store_->ReadSamples(1, 100);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*read)[i].seq(), i + 1);
    EXPECT_EQ((*read)[i].sample().SerializeAsString(), sent[i].SerializeAsString());
    EXPECT_GT((*read)[i].received_time().seconds(), 1600000000);
  }
  EXPECT_EQ((*read)[2].sample().split(), v1::Sample::EVAL);

  // Cursor-following reads: from the middle, bounded count, and past the end.
  read = store_->ReadSamples(3, 1);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].seq(), 3u);
  read = store_->ReadSamples(5, 10);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->empty());

  absl::StatusOr<v1::StoredSample> one = store_->GetSample(2);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->sample().image().raw().pixels(), sent[1].image().raw().pixels());
  EXPECT_EQ(store_->GetSample(99).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SampleLogTest, SeqsAreConsecutiveAcrossCalls) {
  for (uint32_t call = 0; call < 3; ++call) {
    std::vector<v1::Sample> batch = {MakeTestSample(call), MakeTestSample(call + 100)};
    absl::StatusOr<std::vector<AppendResult>> results = store_->AppendSamples(std::move(batch));
    ASSERT_TRUE(results.ok());
    EXPECT_EQ((*results)[0].seq, 2 * call + 1);
    EXPECT_EQ((*results)[1].seq, 2 * call + 2);
  }
  absl::StatusOr<std::vector<AppendResult>> empty = store_->AppendSamples({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(store_->LastSeq(), 6u);
}

TEST_F(SampleLogTest, DuplicateKeyReturnsFirstSeqAndWritesNothing) {
  absl::StatusOr<std::vector<AppendResult>> first =
      store_->AppendSamples({MakeTestSample(1, "a"), MakeTestSample(2, "b")});
  ASSERT_TRUE(first.ok());
  // "b" again (different content: the key decides), "c" twice in one call, an unkeyed sample.
  absl::StatusOr<std::vector<AppendResult>> second = store_->AppendSamples(
      {MakeTestSample(7, "b"), MakeTestSample(3, "c"), MakeTestSample(4, "c"), MakeTestSample(5)});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->size(), 4u);
  EXPECT_TRUE((*second)[0].duplicate);
  EXPECT_EQ((*second)[0].seq, 2u);
  EXPECT_FALSE((*second)[1].duplicate);
  EXPECT_EQ((*second)[1].seq, 3u);
  EXPECT_TRUE((*second)[2].duplicate);
  EXPECT_EQ((*second)[2].seq, 3u);
  EXPECT_FALSE((*second)[3].duplicate);
  EXPECT_EQ((*second)[3].seq, 4u);
  EXPECT_EQ(store_->LastSeq(), 4u);

  // Only duplicates: nothing written, the log is unchanged.
  absl::StatusOr<std::vector<AppendResult>> third = store_->AppendSamples({MakeTestSample(8, "a")});
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE((*third)[0].duplicate);
  EXPECT_EQ((*third)[0].seq, 1u);
  EXPECT_EQ(store_->LastSeq(), 4u);
  absl::StatusOr<std::vector<v1::StoredSample>> read = store_->ReadSamples(1, 100);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 4u);
  EXPECT_EQ((*read)[1].sample().image().raw().pixels(),
            MakeTestSample(2).image().raw().pixels());  // The original "b", not the resend.
}

TEST_F(SampleLogTest, ConcurrentAppendsGetUniqueConsecutiveSeqs) {
  constexpr int kThreads = 4;
  constexpr int kCalls = 50;
  constexpr int kPerCall = 3;
  std::vector<std::vector<AppendResult>> per_thread(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &per_thread] {
      for (int c = 0; c < kCalls; ++c) {
        std::vector<v1::Sample> batch;
        for (int i = 0; i < kPerCall; ++i) {
          const std::string key = std::to_string(t) + "/" + std::to_string(c * kPerCall + i);
          batch.push_back(MakeTestSample(t * 10000 + c * kPerCall + i, key));
        }
        absl::StatusOr<std::vector<AppendResult>> results = store_->AppendSamples(batch);
        ASSERT_TRUE(results.ok()) << results.status();
        // Within one call the seqs are consecutive.
        for (int i = 1; i < kPerCall; ++i) {
          EXPECT_EQ((*results)[i].seq, (*results)[0].seq + i);
        }
        per_thread[t].insert(per_thread[t].end(), results->begin(), results->end());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  constexpr uint64_t kTotal = kThreads * kCalls * kPerCall;
  std::set<uint64_t> seqs;
  for (const auto& results : per_thread) {
    for (const AppendResult& r : results) {
      EXPECT_FALSE(r.duplicate);
      seqs.insert(r.seq);
    }
  }
  ASSERT_EQ(seqs.size(), kTotal);
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), kTotal);
  EXPECT_EQ(store_->LastSeq(), kTotal);

  // Every acknowledged sample is in the log under its seq, with its own key.
  absl::StatusOr<std::vector<v1::StoredSample>> read = store_->ReadSamples(1, kTotal + 10);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), kTotal);
  std::set<std::string> keys;
  for (uint64_t i = 0; i < kTotal; ++i) {
    EXPECT_EQ((*read)[i].seq(), i + 1);
    keys.insert((*read)[i].sample().idempotency_key());
  }
  EXPECT_EQ(keys.size(), kTotal);
}

TEST_F(SampleLogTest, WaitForSamplesWakesOnAppend) {
  EXPECT_FALSE(store_->WaitForSamples(0, absl::Milliseconds(10)));
  std::thread writer([this] {
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(store_->AppendSamples({MakeTestSample(1)}).ok());
  });
  EXPECT_TRUE(store_->WaitForSamples(0, absl::Seconds(5)));
  writer.join();
  EXPECT_FALSE(store_->WaitForSamples(1, absl::Milliseconds(1)));
}

}  // namespace
}  // namespace perennial

#include "server/query_batcher.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <thread>

#include "learner/model/tiny_clip_for_tests.h"

namespace perennial {
namespace {

std::unique_ptr<ModelHost> MakeHost() {
  StatusOr<Tokenizer> tokenizer = Tokenizer::LoadDefault();
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  return std::make_unique<ModelHost>(TinyClipModel(1), *std::move(tokenizer), "tiny");
}

TEST(QueryBatcherTest, EncodesImagesAsTheModelDoes) {
  auto host = MakeHost();
  QueryBatcher batcher(host.get(), QueryBatcherOptions());
  const torch::Tensor pixels = torch::randn({3, 3, 16, 16});
  absl::StatusOr<torch::Tensor> features =
      batcher.EncodeImages(host->Current(), pixels, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(features.ok()) << features.status();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(*features, host->model().EncodeImage(pixels), 1e-5, 1e-5));
  EXPECT_FALSE(batcher.QueriesPending());
}

TEST(QueryBatcherTest, PendingScopeHoldsTheLearnerBackAndReleaseWakesIt) {
  auto host = MakeHost();
  QueryBatcher batcher(host.get(), QueryBatcherOptions());
  EXPECT_FALSE(batcher.QueriesPending());
  EXPECT_TRUE(batcher.WaitForIdle(absl::ZeroDuration()));

  std::optional<QueryBatcher::PendingScope> text_work;
  text_work.emplace(&batcher);
  EXPECT_TRUE(batcher.QueriesPending());
  EXPECT_FALSE(batcher.WaitForIdle(absl::Milliseconds(20)));

  std::thread release([&] {
    absl::SleepFor(absl::Milliseconds(50));
    text_work.reset();
  });
  const absl::Time start = absl::Now();
  EXPECT_TRUE(batcher.WaitForIdle(absl::Seconds(60)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // woken by the release, not the timeout
  release.join();
  EXPECT_FALSE(batcher.QueriesPending());
}

TEST(QueryBatcherTest, StopFailsLaterQueries) {
  auto host = MakeHost();
  QueryBatcher batcher(host.get(), QueryBatcherOptions());
  batcher.Stop();
  absl::StatusOr<torch::Tensor> features = batcher.EncodeImages(
      host->Current(), torch::randn({1, 3, 16, 16}), absl::Now() + absl::Seconds(30));
  EXPECT_EQ(features.status().code(), absl::StatusCode::kUnavailable) << features.status();
  EXPECT_FALSE(batcher.QueriesPending());
}

}  // namespace
}  // namespace perennial

#include "server/model_host.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "learner/model/tiny_clip_for_tests.h"
#include "learner/model/zero_shot.h"

namespace perennial {
namespace {

const std::vector<std::string> kLabels = {"cat", "dog"};
const std::vector<std::string> kTemplates = {"a photo of a {}."};

std::unique_ptr<ModelHost> MakeHost(ModelHostOptions options = {}) {
  StatusOr<Tokenizer> tokenizer = Tokenizer::LoadDefault();
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  return std::make_unique<ModelHost>(TinyClipModel(1), *std::move(tokenizer), "tiny", options);
}

// LoRA adapters whose B is not zero, so that they change the text features.
std::shared_ptr<const Adapters> TrainedAdapters() {
  StatusOr<Adapters> adapters = Adapters::Create(TinyClipConfig(), PetOptions(), 5);
  EXPECT_TRUE(adapters.ok()) << adapters.status().ToString();
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : adapters->Parameters()) p.add_(torch::randn_like(p) * 0.1);
  return std::make_shared<const Adapters>(adapters->Snapshot());
}

torch::Tensor Embed(ModelHost& host, const std::vector<std::string>& labels,
                    const std::vector<std::string>& templates = kTemplates) {
  absl::StatusOr<torch::Tensor> embeddings =
      host.LabelEmbeddings(*host.Current(), labels, templates);
  EXPECT_TRUE(embeddings.ok()) << embeddings.status();
  return embeddings.ok() ? *embeddings : torch::Tensor();
}

TEST(ModelHostTest, RepeatedLabelSetIsServedFromTheCache) {
  auto host = MakeHost();
  const torch::Tensor first = Embed(*host, kLabels);
  const torch::Tensor second = Embed(*host, kLabels);
  EXPECT_EQ(host->label_cache_misses(), 1u);
  EXPECT_EQ(host->label_cache_hits(), 1u);
  EXPECT_TRUE(torch::equal(first, second));
}

// After a publication every concurrent query of a set misses at once; one text forward serves
// them all.
TEST(ModelHostTest, ConcurrentMissesOfOneSetComputeItOnce) {
  auto host = MakeHost();
  // Enough texts that the forward outlasts the threads' start-up by far.
  std::vector<std::string> labels;
  for (int i = 0; i < 200; ++i) labels.push_back("label " + std::to_string(i));
  const std::vector<std::string> templates = {"a photo of a {}.", "a drawing of a {}."};
  constexpr int kQueries = 6;
  std::vector<torch::Tensor> results(kQueries);
  std::atomic<int> ready{0};
  std::vector<std::thread> queries;
  for (int i = 0; i < kQueries; ++i) {
    queries.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kQueries) std::this_thread::yield();
      results[i] = Embed(*host, labels, templates);
    });
  }
  for (std::thread& query : queries) query.join();
  EXPECT_EQ(host->label_cache_misses(), 1u);
  EXPECT_EQ(host->label_cache_hits(), kQueries - 1u);
  for (const torch::Tensor& result : results) {
    ASSERT_TRUE(result.defined());
    EXPECT_TRUE(torch::equal(result, results[0]));
  }
}

TEST(ModelHostTest, PublishEmbedsRecentlyQueriedSetsWithTheNewVersion) {
  auto host = MakeHost();
  const torch::Tensor base = Embed(*host, kLabels);
  const std::shared_ptr<const Adapters> adapters = TrainedAdapters();
  ASSERT_TRUE(host->Publish(1, adapters).ok());

  const torch::Tensor live = Embed(*host, kLabels);
  EXPECT_EQ(host->label_cache_misses(), 1u);  // only the first query's
  EXPECT_EQ(host->label_cache_hits(), 1u);
  // What a query would have computed with version 1, and not version 0's value.
  StatusOr<torch::Tensor> expected =
      ClassEmbeddings(host->model(), host->tokenizer(), kLabels, kTemplates, adapters.get());
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  EXPECT_TRUE(torch::allclose(live, *expected, 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(live, base, 1e-3, 1e-3));
}

TEST(ModelHostTest, OnlyTheMostRecentlyQueriedSetsAreWarmed) {
  ModelHostOptions options;
  options.warm_label_sets = 1;
  auto host = MakeHost(options);
  Embed(*host, kLabels);
  Embed(*host, {"bird", "fish"});
  ASSERT_TRUE(host->Publish(1, TrainedAdapters()).ok());
  Embed(*host, {"bird", "fish"});
  EXPECT_EQ(host->label_cache_hits(), 1u);
  Embed(*host, kLabels);  // pushed out of the recent list by the second set
  EXPECT_EQ(host->label_cache_misses(), 3u);
}

TEST(ModelHostTest, LargeOrStaleSetsAreLeftToTheirNextQuery) {
  ModelHostOptions large;
  large.warm_max_texts = 3;
  auto host = MakeHost(large);
  Embed(*host, kLabels, {"a {}.", "a photo of a {}."});  // 4 texts
  ASSERT_TRUE(host->Publish(1, TrainedAdapters()).ok());
  Embed(*host, kLabels, {"a {}.", "a photo of a {}."});
  EXPECT_EQ(host->label_cache_misses(), 2u);

  ModelHostOptions stale;
  stale.warm_window = absl::ZeroDuration();
  host = MakeHost(stale);
  Embed(*host, kLabels);
  ASSERT_TRUE(host->Publish(1, TrainedAdapters()).ok());
  Embed(*host, kLabels);
  EXPECT_EQ(host->label_cache_misses(), 2u);
}

TEST(ModelHostTest, RefusedPublishChangesNothing) {
  auto host = MakeHost();
  ASSERT_TRUE(host->Publish(2, TrainedAdapters()).ok());
  const absl::Status refused = host->Publish(2, nullptr);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_EQ(host->version(), 2u);
  EXPECT_NE(host->Current()->adapters, nullptr);
}

}  // namespace
}  // namespace perennial

#include "server/model_host.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace perennial {
namespace {

constexpr char kModel[] = "tests/fixtures/tiny_clip/openai_fp32.safetensors";

std::unique_ptr<ModelHost> MakeHost(const ModelHostOptions& options) {
  StatusOr<ClipModel> model = ClipModel::Load(kModel, ModelOptions());
  EXPECT_TRUE(model.ok()) << model.status().message();
  StatusOr<Tokenizer> tokenizer = Tokenizer::LoadDefault();
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  return std::make_unique<ModelHost>(*std::move(model), *std::move(tokenizer), "tiny", options);
}

const std::vector<std::string> kLabels = {"cat", "dog", "boot"};
const std::vector<std::string> kTemplates = {"a photo of a {}."};

TEST(ModelHostTest, LabelEmbeddingsAreCachedPerVersion) {
  std::unique_ptr<ModelHost> host = MakeHost(ModelHostOptions());
  const auto v0 = host->Current();
  absl::StatusOr<torch::Tensor> first = host->LabelEmbeddings(*v0, kLabels, kTemplates);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->sizes(), (std::vector<int64_t>{3, host->model().config().embed_dim}));
  absl::StatusOr<torch::Tensor> again = host->LabelEmbeddings(*v0, kLabels, kTemplates);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(torch::equal(*first, *again));
  EXPECT_EQ(host->label_cache_misses(), 1u);
  EXPECT_EQ(host->label_cache_hits(), 1u);
  // Another template is another set.
  ASSERT_TRUE(host->LabelEmbeddings(*v0, kLabels, {"{}"}).ok());
  EXPECT_EQ(host->label_cache_misses(), 2u);
}

TEST(ModelHostTest, PublishEmbedsRecentlyQueriedSetsBeforeGoingLive) {
  std::unique_ptr<ModelHost> host = MakeHost(ModelHostOptions());
  ASSERT_TRUE(host->LabelEmbeddings(*host->Current(), kLabels, kTemplates).ok());
  ASSERT_TRUE(host->Publish(1, nullptr).ok());
  EXPECT_EQ(host->label_sets_warmed(), 1u);
  const uint64_t misses = host->label_cache_misses();
  const auto v1 = host->Current();
  ASSERT_EQ(v1->version, 1u);
  absl::StatusOr<torch::Tensor> warmed = host->LabelEmbeddings(*v1, kLabels, kTemplates);
  ASSERT_TRUE(warmed.ok());
  EXPECT_EQ(host->label_cache_misses(), misses);  // the query found it
  // Same weights (no adapters): the warmed embeddings are the ones a query would compute.
  absl::StatusOr<torch::Tensor> v0 = host->LabelEmbeddings(ServedModel(), kLabels, kTemplates);
  ASSERT_TRUE(v0.ok());
  EXPECT_TRUE(torch::allclose(*warmed, *v0));
  EXPECT_EQ(host->Publish(1, nullptr).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ModelHostTest, SetsNotQueriedWithinTheWindowAreNotWarmed) {
  ModelHostOptions options;
  options.warm_window = absl::ZeroDuration();
  std::unique_ptr<ModelHost> host = MakeHost(options);
  ASSERT_TRUE(host->LabelEmbeddings(*host->Current(), kLabels, kTemplates).ok());
  absl::SleepFor(absl::Milliseconds(2));
  ASSERT_TRUE(host->Publish(1, nullptr).ok());
  EXPECT_EQ(host->label_sets_warmed(), 0u);

  options = ModelHostOptions();
  options.warm_max_prompts = 2;  // the set has 3 prompts
  host = MakeHost(options);
  ASSERT_TRUE(host->LabelEmbeddings(*host->Current(), kLabels, kTemplates).ok());
  ASSERT_TRUE(host->Publish(1, nullptr).ok());
  EXPECT_EQ(host->label_sets_warmed(), 0u);
}

}  // namespace
}  // namespace perennial

#include "learner/model/clip_model.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "learner/base/yield_point.h"
#include "learner/model/adapter_io.h"
#include "learner/model/clip_init.h"
#include "learner/model/pet.h"
#include "learner/model/tiny_clip_for_tests.h"

namespace perennial {
namespace {

// TinyClipConfig() with a 100-id vocabulary (Tokens() below) and 12 positions.
ClipConfig TinyConfig() {
  ClipConfig c = TinyClipConfig();
  c.context_length = 12;
  c.vocab_size = 100;
  return c;
}

ClipModel TinyModel(const ModelOptions& options = {}) {
  const ClipConfig c = TinyConfig();
  auto model = ClipModel::FromTensors(InitClipTensors(c, 7), ClipConfigMetadata(c), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return *std::move(model);
}

torch::Tensor Tokens() {
  // SOT-like 98, words, EOT = 99 (the highest id), zero padding; different lengths.
  return torch::tensor({{98, 5, 6, 7, 99, 0, 0, 0}, {98, 8, 99, 0, 0, 0, 0, 0}}, torch::kLong);
}

TEST(ParseDeviceTest, NamesTheDeviceInEveryError) {
  StatusOr<torch::Device> cpu = ParseDevice("cpu");
  ASSERT_TRUE(cpu.ok());
  EXPECT_TRUE(cpu->is_cpu());
  StatusOr<torch::Device> gpu = ParseDevice("gpu");
  ASSERT_FALSE(gpu.ok());
  EXPECT_EQ(gpu.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(gpu.status().message(), "device 'gpu' is not cpu, cuda or cuda:N");
  StatusOr<torch::Device> cuda = ParseDevice("cuda:1");
  if (torch::cuda::is_available()) return;  // what follows is for machines without CUDA
  ASSERT_FALSE(cuda.ok());
  EXPECT_EQ(cuda.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(cuda.status().message(),
            "device 'cuda:1': this LibTorch build or machine has no CUDA device");
}

TEST(ClipModelTest, InfersTheConfigurationFromShapes) {
  const ClipModel model = TinyModel();
  const ClipConfig& c = model.config();
  EXPECT_EQ(c.embed_dim, 16);
  EXPECT_EQ(c.image_resolution, 16);
  EXPECT_EQ(c.vision_layers, 2);
  EXPECT_EQ(c.vision_heads, 2);
  EXPECT_EQ(c.text_layers, 2);
  EXPECT_EQ(c.context_length, 12);
  EXPECT_EQ(c.vocab_size, 100);
}

TEST(ClipModelTest, OutputShapesAndLogitScale) {
  const ClipModel model = TinyModel();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model.EncodeImage(torch::randn({3, 3, 16, 16})).sizes(), (std::vector<int64_t>{3, 16}));
  EXPECT_EQ(model.EncodeText(Tokens()).sizes(), (std::vector<int64_t>{2, 16}));
  EXPECT_NEAR(model.LogitScale().item<float>(), 1 / 0.07, 1e-3);
}

TEST(ClipModelTest, TextFeaturesDoNotDependOnPaddingOrBatchMates) {
  const ClipModel model = TinyModel();
  torch::NoGradGuard no_grad;
  const torch::Tensor batch = model.EncodeText(Tokens());
  const torch::Tensor alone = model.EncodeText(Tokens().narrow(0, 1, 1).narrow(1, 0, 3));
  const torch::Tensor padded = torch::zeros({1, 12}, torch::kLong);
  padded.narrow(1, 0, 3).copy_(Tokens().narrow(0, 1, 1).narrow(1, 0, 3));
  EXPECT_TRUE(torch::allclose(batch[1], alone[0], 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(model.EncodeText(padded)[0], alone[0], 1e-5, 1e-6));
}

TEST(ClipModelTest, MissingOrMisshapedTensorIsNamed) {
  const ClipConfig c = TinyConfig();
  auto tensors = InitClipTensors(c, 1);
  tensors.erase("transformer.resblocks.1.mlp.c_fc.bias");
  auto missing = ClipModel::FromTensors(tensors, ClipConfigMetadata(c), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("transformer.resblocks.1.mlp.c_fc.bias"),
            std::string::npos);
  tensors = InitClipTensors(c, 1);
  tensors["visual.ln_post.weight"] = torch::ones({5});
  auto misshaped = ClipModel::FromTensors(tensors, ClipConfigMetadata(c), {});
  ASSERT_FALSE(misshaped.ok());
  EXPECT_NE(misshaped.status().message().find("visual.ln_post.weight"), std::string::npos);
}

class PetTest : public ::testing::TestWithParam<PetKind> {};

TEST_P(PetTest, FreshAdaptersGiveExactlyTheBaseOutputs) {
  const ClipModel model = TinyModel();
  PetOptions options;
  options.kind = GetParam();
  auto adapters = Adapters::Create(model.config(), options, 3);
  ASSERT_TRUE(adapters.ok());
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = torch::randn({2, 3, 16, 16});
  EXPECT_TRUE(torch::equal(model.EncodeImage(pixels), model.EncodeImage(pixels, &*adapters)));
  EXPECT_TRUE(torch::equal(model.EncodeText(Tokens()), model.EncodeText(Tokens(), &*adapters)));
}

TEST_P(PetTest, TrainedAdaptersChangeOutputsAndGradientsReachOnlyAdapters) {
  const ClipModel model = TinyModel();
  PetOptions options;
  options.kind = GetParam();
  auto adapters = *Adapters::Create(model.config(), options, 3);
  const torch::Tensor pixels = torch::randn({2, 3, 16, 16});
  const torch::Tensor loss =
      model.EncodeImage(pixels, &adapters).sum() + model.EncodeText(Tokens(), &adapters).sum();
  loss.backward();
  int with_grad = 0;
  for (const torch::Tensor& p : adapters.Parameters()) with_grad += p.grad().defined();
  // B (or the adapter's up-projection) receives gradient even though it starts at zero.
  EXPECT_GT(with_grad, 0);
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : adapters.Parameters()) p.add_(torch::randn_like(p) * 0.05);
  EXPECT_FALSE(torch::allclose(model.EncodeImage(pixels), model.EncodeImage(pixels, &adapters)));
}

TEST_P(PetTest, SavedAdaptersLoadBackIdentically) {
  const ClipModel model = TinyModel();
  PetOptions options;
  options.kind = GetParam();
  options.towers = TowerSelection::kImage;
  auto adapters = *Adapters::Create(model.config(), options, 5);
  {
    torch::NoGradGuard no_grad;
    for (const torch::Tensor& p : adapters.Parameters()) p.add_(torch::randn_like(p));
  }
  const std::string path = ::testing::TempDir() + "/adapters.safetensors";
  ASSERT_TRUE(SaveAdapters(path, adapters, model.config()).ok());
  auto loaded = LoadAdapters(path, model.config());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options().towers, TowerSelection::kImage);
  EXPECT_TRUE(loaded->text_blocks().empty());
  const auto a = adapters.NamedTensors(), b = loaded->NamedTensors();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
  ClipConfig other = model.config();
  other.vision_layers = 3;
  auto mismatch = LoadAdapters(path, other);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), StatusCode::kFailedPrecondition);
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Kinds, PetTest, ::testing::Values(PetKind::kLora, PetKind::kBottleneck),
                         [](const auto& info) { return std::string(PetKindName(info.param)); });

TEST(LoraTest, MergedAdaptersMatchTheUnmergedForward) {
  const ClipModel model = TinyModel();
  PetOptions options;
  options.lora_rank = 4;
  auto adapters = *Adapters::Create(model.config(), options, 11);
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : adapters.Parameters()) p.add_(torch::randn_like(p) * 0.1);
  const Adapters merged = model.MergeAdapters(adapters);
  const torch::Tensor pixels = torch::randn({2, 3, 16, 16});
  EXPECT_TRUE(torch::allclose(model.EncodeImage(pixels, &adapters),
                              model.EncodeImage(pixels, &merged), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(model.EncodeText(Tokens(), &adapters),
                              model.EncodeText(Tokens(), &merged), 1e-4, 1e-5));
  // The pairs stay, so a merged snapshot serialises like the adapters it came from.
  const auto named = adapters.NamedTensors(), merged_named = merged.NamedTensors();
  ASSERT_EQ(named.size(), merged_named.size());
  for (size_t i = 0; i < named.size(); ++i) {
    EXPECT_TRUE(torch::equal(named[i].second, merged_named[i].second)) << named[i].first;
  }
}

TEST(ClipModelTest, OneDnnAndBlasForwardsAgreeWithGradients) {
  ModelOptions blas_options;
  blas_options.onednn_linear = false;
  const ClipModel onednn = TinyModel();
  const ClipModel blas = TinyModel(blas_options);
  const Adapters adapters = PerturbedAdapters(TinyConfig(), 5);
  const torch::Tensor pixels = torch::randn({2, 3, 16, 16});
  std::vector<torch::Tensor> grads[2];
  torch::Tensor outputs[2];
  for (int i = 0; i < 2; ++i) {
    const ClipModel& model = i == 0 ? onednn : blas;
    outputs[i] = ForwardBackward(
        adapters,
        [&] {
          return model.EncodeImage(pixels, &adapters, false) +
                 model.EncodeText(Tokens(), &adapters).sum();
        },
        &grads[i]);
  }
  EXPECT_TRUE(torch::allclose(outputs[0], outputs[1], 1e-4, 1e-5));
  ExpectGradientsNear(grads[0], grads[1], 2e-4);
}

// Prompted texts share their template's first tokens; EncodeText runs those once. Same
// features and adapter gradients as running every text whole.
TEST(ClipModelTest, SharedPromptPrefixRunsOnceWithTheSameResults) {
  ModelOptions whole_options;
  whole_options.share_text_prefix = false;
  const ClipModel shared = TinyModel();
  const ClipModel whole = TinyModel(whole_options);
  const Adapters adapters = PerturbedAdapters(TinyConfig(), 5);
  // SOT-like 98 and three template tokens in common; EOT = 99 at different positions.
  const torch::Tensor tokens = torch::tensor(
      {{98, 3, 4, 5, 6, 7, 99, 0}, {98, 3, 4, 5, 8, 99, 0, 0}, {98, 3, 4, 5, 9, 10, 11, 99}},
      torch::kLong);
  torch::Tensor features[2];
  std::vector<torch::Tensor> grads[2];
  for (int i = 0; i < 2; ++i) {
    const ClipModel& model = i == 0 ? whole : shared;
    features[i] = ForwardBackward(
        adapters, [&] { return model.EncodeText(tokens, &adapters, false); }, &grads[i]);
  }
  EXPECT_TRUE(torch::allclose(features[1], features[0], 1e-5, 1e-6));
  ASSERT_EQ(grads[1].size(), 8u * TinyConfig().text_layers);
  ExpectGradientsNear(grads[1], grads[0], 1e-4);
}

// The server's learner pauses for queries at these points (learner/base/yield_point.h): one
// before each transformer block of a forward pass, one in each adapted map's backward.
TEST(ClipModelTest, ForwardAndBackwardPassYieldPoints) {
  const ClipModel model = TinyModel();
  auto adapters = *Adapters::Create(model.config(), PetOptions(), 3);
  int calls = 0;
  const ScopedYieldHook hook([&] { ++calls; });
  const torch::Tensor image = model.EncodeImage(torch::randn({2, 3, 16, 16}), &adapters);
  EXPECT_EQ(calls, TinyConfig().vision_layers);
  const torch::Tensor text = model.EncodeText(Tokens(), &adapters);
  EXPECT_EQ(calls, TinyConfig().vision_layers + TinyConfig().text_layers);
  calls = 0;
  (image.sum() + text.sum()).backward();
  // Four LoRA maps per block (qkv, out, fc, proj) in both towers.
  EXPECT_EQ(calls, 4 * (TinyConfig().vision_layers + TinyConfig().text_layers));
}

TEST(LoraTest, SnapshotIsIndependentOfFurtherTraining) {
  const ClipModel model = TinyModel();
  auto adapters = *Adapters::Create(model.config(), PetOptions(), 2);
  const Adapters snapshot = adapters.Snapshot();
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : adapters.Parameters()) p.add_(1.0);
  const auto live = adapters.NamedTensors(), frozen = snapshot.NamedTensors();
  for (size_t i = 0; i < live.size(); ++i) {
    EXPECT_FALSE(torch::equal(live[i].second, frozen[i].second)) << live[i].first;
    EXPECT_FALSE(frozen[i].second.requires_grad());
  }
}

}  // namespace
}  // namespace perennial

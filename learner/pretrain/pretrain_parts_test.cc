// Tests of the pieces of pretraining: schedule, curriculum, loss, AdamW, batches, probes,
// checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "learner/data/synthetic_world.h"
#include "learner/data/world_probes.h"
#include "learner/model/clip_init.h"
#include "learner/model/clip_model.h"
#include "learner/model/preprocess.h"
#include "learner/model/tiny_clip_for_tests.h"
#include "learner/pretrain/adamw.h"
#include "learner/pretrain/batch_stream.h"
#include "learner/pretrain/contrastive_loss.h"
#include "learner/pretrain/pretrain_checkpoint.h"
#include "learner/pretrain/pretrain_options.h"
#include "learner/pretrain/probe_eval.h"

namespace perennial {
namespace {

// TinyClipConfig() with one GELU block per tower, 4 px patches and 32 positions.
ClipConfig TinyConfig() {
  ClipConfig c = TinyClipConfig();
  c.vision_patch_size = 4;
  c.vision_layers = c.text_layers = 1;
  c.context_length = 32;
  c.activation = Activation::kGelu;
  return c;
}

TEST(PretrainOptionsTest, DefaultsAreValidAndBadValuesAreNamed) {
  PretrainOptions o;
  EXPECT_TRUE(ValidatePretrainOptions(o).ok());
  o.batch_size = 1;
  EXPECT_NE(ValidatePretrainOptions(o).message().find("batch_size"), std::string::npos);
  o = PretrainOptions();
  o.model.vision_patch_size = 7;
  EXPECT_FALSE(ValidatePretrainOptions(o).ok());
}

TEST(PretrainOptionsTest, ScheduleWarmsUpHoldsAndDecays) {
  PretrainOptions o;
  o.steps = 1100;
  o.warmup_steps = 100;
  o.hold_fraction = 0.5;
  o.learning_rate = 1e-3;
  o.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 0), 1e-5);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 49), 5e-4);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 100), 1e-3);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 599), 1e-3);
  EXPECT_NEAR(LearningRateAt(o, 850), 1e-4 + 0.9e-3 * 0.5, 1e-12);  // half way down the cosine
  EXPECT_NEAR(LearningRateAt(o, 1100), 1e-4, 1e-12);
}

TEST(PretrainOptionsTest, CurriculumGoesFromPlainToCluttered) {
  PretrainOptions o;
  o.steps = 100;
  EXPECT_EQ(CurriculumBackgroundLevel(o, 0), 0);
  EXPECT_EQ(CurriculumBackgroundLevel(o, 9), 0);
  EXPECT_EQ(CurriculumBackgroundLevel(o, 10), 1);
  EXPECT_EQ(CurriculumBackgroundLevel(o, 24), 1);
  EXPECT_EQ(CurriculumBackgroundLevel(o, 25), 2);
}

TEST(ContrastiveLossTest, DeduplicatesCaptionsInOrderOfFirstAppearance) {
  const UniqueCaptions u = DeduplicateCaptions({"a.", "b.", "a.", "c.", "b."});
  EXPECT_EQ(u.texts, (std::vector<std::string>{"a.", "b.", "c."}));
  EXPECT_EQ(u.index_of, (std::vector<int64_t>{0, 1, 0, 2, 1}));
}

TEST(ContrastiveLossTest, DistinctCaptionsGiveClipsLoss) {
  torch::manual_seed(3);
  const torch::Tensor image = torch::randn({5, 8}), text = torch::randn({5, 8});
  const torch::Tensor scale = torch::tensor(10.0f);
  const torch::Tensor loss = ContrastiveLoss(image, text, torch::eye(5), scale);
  namespace F = torch::nn::functional;
  const torch::Tensor logits =
      scale * torch::matmul(F::normalize(image, F::NormalizeFuncOptions().dim(1)),
                            F::normalize(text, F::NormalizeFuncOptions().dim(1)).t());
  const torch::Tensor expected = 0.5 * (F::cross_entropy(logits, torch::arange(5)) +
                                        F::cross_entropy(logits.t(), torch::arange(5)));
  EXPECT_NEAR(loss.item<double>(), expected.item<double>(), 1e-6);
}

TEST(ContrastiveLossTest, SharedCaptionIsNotANegative) {
  // Images 0 and 1 share caption 0 and are identical; caption 1 belongs to image 2.
  const torch::Tensor image = torch::tensor({{1.0f, 0.0f}, {1.0f, 0.0f}, {0.0f, 1.0f}});
  const torch::Tensor text = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}});
  const torch::Tensor index = torch::tensor({0, 0, 1}, torch::kLong);
  const double s = 20.0;
  const double loss =
      ContrastiveLoss(image, text, OwnCaptionPositives(index, 2), torch::tensor(20.0f))
          .item<double>();
  // image->text: each image's own caption scores s, the other 0.
  const double i2t = std::log(1.0 + std::exp(-s));
  // text 0 -> images {0,1} with targets 1/2: -log(e^s / (2e^s + 1)) = log(2 + e^-s);
  // text 1 -> image 2: log(1 + 2e^-s).
  const double t2i = 0.5 * (std::log(2.0 + std::exp(-s)) + std::log(1.0 + 2.0 * std::exp(-s)));
  EXPECT_NEAR(loss, 0.5 * (i2t + t2i), 1e-6);
}

TEST(ContrastiveLossTest, EveryPositiveOfAnImageSharesItsTarget) {
  // Image 0 is true of both captions; image 1 only of caption 1.
  const torch::Tensor image = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}});
  const torch::Tensor text = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}});
  const torch::Tensor positives = torch::tensor({{1.0f, 1.0f}, {0.0f, 1.0f}});
  const double s = 5.0;
  const double loss = ContrastiveLoss(image, text, positives, torch::tensor(5.0f)).item<double>();
  const double z = 1.0 + std::exp(s);  // both rows and both columns: logits {s, 0}
  // image 0 -> captions {0,1} at 1/2 each; image 1 -> caption 1.
  const double i2t = 0.5 * (0.5 * (std::log(z) - s) + 0.5 * std::log(z) + (std::log(z) - s));
  // caption 0 -> image 0; caption 1 -> images {0,1} at 1/2 each.
  const double t2i = 0.5 * ((std::log(z) - s) + 0.5 * std::log(z) + 0.5 * (std::log(z) - s));
  EXPECT_NEAR(loss, 0.5 * (i2t + t2i), 1e-6);
}

TEST(AdamWTest, MatchesLibTorchAdamWWithDecayOnlyWhereAsked) {
  torch::manual_seed(5);
  torch::Tensor w = torch::randn({4, 3}).requires_grad_(true);
  torch::Tensor b = torch::randn({4}).requires_grad_(true);
  torch::Tensor w_ref = w.detach().clone().requires_grad_(true);
  torch::Tensor b_ref = b.detach().clone().requires_grad_(true);
  AdamW ours({{"w", w, true}, {"b", b, false}}, AdamWOptions{0.9, 0.98, 1e-6, 0.2});
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(
      std::vector<torch::Tensor>{w_ref},
      std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(0.01).betas({0.9, 0.98}).eps(1e-6).weight_decay(0.2)));
  groups.emplace_back(
      std::vector<torch::Tensor>{b_ref},
      std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(0.01).betas({0.9, 0.98}).eps(1e-6).weight_decay(0.0)));
  torch::optim::AdamW reference(groups, torch::optim::AdamWOptions(0.01));
  const torch::Tensor x = torch::randn({6, 3});
  for (int i = 0; i < 5; ++i) {
    ours.ZeroGrad();
    (torch::matmul(x, w.t()) + b).pow(2).sum().backward();
    ours.Step(0.01);
    reference.zero_grad();
    (torch::matmul(x, w_ref.t()) + b_ref).pow(2).sum().backward();
    reference.step();
  }
  EXPECT_TRUE(torch::allclose(w, w_ref, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(b, b_ref, 1e-5, 1e-6));
  EXPECT_EQ(ours.step_count(), 5);
}

TEST(AdamWTest, DecaysMatricesButNotEmbeddingsOrGains) {
  EXPECT_TRUE(ClipParameterDecays("visual.proj", torch::zeros({2, 2})));
  EXPECT_TRUE(ClipParameterDecays("visual.conv1.weight", torch::zeros({2, 3, 2, 2})));
  EXPECT_FALSE(ClipParameterDecays("token_embedding.weight", torch::zeros({2, 2})));
  EXPECT_FALSE(ClipParameterDecays("visual.positional_embedding", torch::zeros({2, 2})));
  EXPECT_FALSE(ClipParameterDecays("ln_final.weight", torch::zeros({2})));
  EXPECT_FALSE(ClipParameterDecays("logit_scale", torch::zeros({})));
}

TEST(BatchStreamTest, BatchesArePureFunctionsOfTheirIndexAndMatchTheThreadedStream) {
  auto tokenizer = Tokenizer::LoadDefault();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  PretrainOptions o;
  o.model = TinyConfig();
  o.batch_size = 16;
  o.steps = 4;
  o.all_true_captions_positive = false;
  const PretrainBatch direct = MakePretrainBatch(o, *tokenizer, 2);
  EXPECT_EQ(direct.pixels.sizes(), (std::vector<int64_t>{16, 3, 16, 16}));
  EXPECT_EQ(direct.caption_index.size(0), 16);
  EXPECT_EQ(direct.tokens.size(0), static_cast<int64_t>(direct.captions.size()));
  EXPECT_EQ(direct.caption_index.max().item<int64_t>() + 1, direct.tokens.size(0));
  EXPECT_TRUE(torch::equal(direct.positives,
                           OwnCaptionPositives(direct.caption_index, direct.tokens.size(0))));
  BatchStream stream(o, *tokenizer, 1);
  EXPECT_EQ(stream.Next().index, 1);
  const PretrainBatch threaded = stream.Next();
  EXPECT_EQ(threaded.index, 2);
  EXPECT_TRUE(torch::equal(threaded.pixels, direct.pixels));
  EXPECT_TRUE(torch::equal(threaded.tokens, direct.tokens));
  EXPECT_EQ(threaded.captions, direct.captions);
}

TEST(BatchStreamTest, AllTrueCaptionsAreEachImagesPositives) {
  auto tokenizer = Tokenizer::LoadDefault();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  PretrainOptions o;
  o.model = TinyConfig();
  o.batch_size = 64;
  o.all_true_captions_positive = true;
  const PretrainBatch batch = MakePretrainBatch(o, *tokenizer, 0);
  WorldOptions world = o.world;
  world.resolution = o.model.image_resolution;
  world.background_level = CurriculumBackgroundLevel(o, 0);
  const std::vector<WorldSample> samples = GenerateBatch(o.seed, 0, o.batch_size, world);
  ASSERT_EQ(batch.positives.size(0), o.batch_size);
  ASSERT_EQ(batch.positives.size(1), static_cast<int64_t>(batch.captions.size()));
  int64_t beyond_own = 0;
  for (int64_t i = 0; i < o.batch_size; ++i) {
    const WorldSample& s = samples[static_cast<size_t>(i)];
    for (int64_t m = 0; m < batch.positives.size(1); ++m) {
      bool true_of_image = false;
      for (const Caption& c : s.captions) true_of_image |= c.text == batch.captions[m];
      EXPECT_EQ(batch.positives[i][m].item<float>(), true_of_image ? 1.0f : 0.0f);
      if (true_of_image && m != batch.caption_index[i].item<int64_t>()) ++beyond_own;
    }
    EXPECT_EQ(batch.positives[i][batch.caption_index[i].item<int64_t>()].item<float>(), 1.0f);
  }
  EXPECT_GT(beyond_own, 0);  // short captions recur: some image matches another's caption
}

TEST(BatchStreamTest, NormalisationMatchesTheModelPreprocessing) {
  WorldOptions world;
  world.resolution = 16;
  const WorldSample s = Generate(3, 0, world);
  PreprocessOptions p;
  p.resolution = 16;
  EXPECT_TRUE(
      torch::allclose(NormalizeImages({&s.image}), PreprocessBatch({s.image}, p), 1e-5, 1e-5));
}

TEST(ProbeEvalTest, AccuraciesAreFractionsWithTheRightChance) {
  auto tokenizer = Tokenizer::LoadDefault();
  ASSERT_TRUE(tokenizer.ok());
  const ClipConfig c = TinyConfig();
  auto model = ClipModel::FromTensors(InitClipTensors(c, 1), ClipConfigMetadata(c), {});
  ASSERT_TRUE(model.ok());
  ProbeEvalOptions eval;
  eval.samples_per_task = 20;
  auto result = EvaluateZeroShotProbes(*model, *tokenizer, eval);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const std::vector<std::pair<std::string, int>> expected = {
      {"colour", 10}, {"shape", 8}, {"position", 9}, {"count", 4}, {"size", 3}};
  ASSERT_EQ(result->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const ProbeAccuracy& a = (*result)[i];
    EXPECT_EQ(a.task, expected[i].first);
    EXPECT_EQ(a.num_labels, expected[i].second);
    EXPECT_DOUBLE_EQ(a.chance, 1.0 / expected[i].second);
    EXPECT_EQ(a.samples, 20);
    EXPECT_GE(a.accuracy, 0.0);
    EXPECT_LE(a.accuracy, 1.0);
    // 20 samples: the accuracy is a multiple of 1/20.
    EXPECT_NEAR(a.accuracy * 20, std::round(a.accuracy * 20), 1e-9);
  }
  auto again = EvaluateZeroShotProbes(*model, *tokenizer, eval);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ((*again)[i].accuracy, (*result)[i].accuracy);  // deterministic
  }
  eval.samples_per_task = 0;
  EXPECT_FALSE(EvaluateZeroShotProbes(*model, *tokenizer, eval).ok());
}

TEST(ProbeEvalTest, FormatsOneLine) {
  EXPECT_EQ(FormatProbeAccuracies({{"colour", 0.5, 0.1, 10, 10}, {"size", 1.0, 1.0 / 3, 3, 3}}),
            "colour 0.500 (chance 0.100), size 1.000 (chance 0.333)");
}

TEST(PretrainCheckpointTest, RoundTripsWeightsStateAndMetadata) {
  const ClipConfig c = TinyConfig();
  PretrainCheckpoint saved;
  saved.step = 7;
  saved.optimizer_steps = 6;
  saved.seed = 42;
  saved.batch_size = 16;
  saved.config = c;
  saved.weights = InitClipTensors(c, 2);
  saved.optimizer_state["exp_avg.visual.proj"] = torch::randn({32, 16});
  const std::string path = testing::TempDir() + "/pretrain_checkpoint_test.safetensors";
  ASSERT_TRUE(SavePretrainCheckpoint(path, saved).ok());
  auto loaded = LoadPretrainCheckpoint(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->step, 7);
  EXPECT_EQ(loaded->optimizer_steps, 6);
  EXPECT_EQ(loaded->seed, 42u);
  EXPECT_EQ(loaded->batch_size, 16);
  EXPECT_EQ(loaded->config.ToString(), c.ToString());
  EXPECT_EQ(loaded->config.vision_heads, 2);
  for (const auto& [key, t] : saved.weights) {
    EXPECT_TRUE(torch::equal(loaded->weights.at(key), t)) << key;
  }
  EXPECT_TRUE(torch::equal(loaded->optimizer_state.at("exp_avg.visual.proj"),
                           saved.optimizer_state.at("exp_avg.visual.proj")));
  // A model file is not a checkpoint.
  auto model = ClipModel::FromTensors(saved.weights, ClipConfigMetadata(c), {});
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(ExportPretrainedModel(path, *model).ok());
  auto wrong = LoadPretrainCheckpoint(path);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("not a perennial pretraining checkpoint"),
            std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace perennial

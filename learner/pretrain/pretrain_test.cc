// End-to-end tests of RunPretraining on a tiny model: learning, export, resume.
#include "learner/pretrain/pretrain.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <numeric>

#include "learner/model/clip_model.h"
#include "learner/model/tokenizer.h"
#include "learner/pretrain/batch_stream.h"

namespace perennial {
namespace {

PretrainOptions TinyOptions(int64_t steps) {
  PretrainOptions o;
  ClipConfig& c = o.model;
  c.embed_dim = 32;
  c.image_resolution = 16;
  c.vision_patch_size = 4;
  c.vision_width = 32;
  c.vision_layers = 1;
  c.vision_heads = 2;
  c.context_length = 32;
  c.text_width = 32;
  c.text_layers = 1;
  c.text_heads = 2;
  o.batch_size = 32;
  o.steps = steps;
  o.warmup_steps = 3;
  o.learning_rate = 3e-3;
  o.eval_every = 0;
  o.eval_samples = 10;
  o.checkpoint_every = 0;
  o.threads = 1;
  o.seed = 11;
  return o;
}

std::string TempPath(const std::string& name) { return testing::TempDir() + "/" + name; }

TEST(PretrainTest, LossFallsOverThirtySteps) {
  std::vector<double> losses;
  auto result = RunPretraining(TinyOptions(30), [&](const PretrainProgress& p) {
    losses.push_back(p.loss);
    EXPECT_EQ(p.total_steps, 30);
    EXPECT_GT(p.learning_rate, 0.0);
    EXPECT_LE(p.logit_scale, 100.0);
    return true;
  });
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(losses.size(), 30u);
  EXPECT_TRUE(result->completed);
  EXPECT_EQ(result->probes.size(), 5u);  // the final evaluation
  const double first = std::accumulate(losses.begin(), losses.begin() + 5, 0.0) / 5;
  const double last = std::accumulate(losses.end() - 5, losses.end(), 0.0) / 5;
  EXPECT_LT(last, first - 0.3) << "first five " << first << ", last five " << last;
}

TEST(PretrainTest, ExportedModelReproducesTheTrainedOne) {
  PretrainOptions o = TinyOptions(3);
  o.output_path = TempPath("pretrain_export_test.safetensors");
  auto result = RunPretraining(o, nullptr);
  ASSERT_TRUE(result.ok()) << result.status().message();
  auto loaded = ClipModel::Load(o.output_path, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->config().ToString(), o.model.ToString());
  EXPECT_EQ(loaded->config().vision_heads, 2);
  EXPECT_EQ(loaded->config().activation, Activation::kGelu);

  auto in_memory = ClipModel::FromTensors(result->weights, ClipConfigMetadata(o.model), {});
  ASSERT_TRUE(in_memory.ok());
  // The same weights with the token table rounded through fp16, as the file stores it.
  auto rounded_weights = result->weights;
  rounded_weights["token_embedding.weight"] =
      rounded_weights["token_embedding.weight"].to(torch::kFloat16).to(torch::kFloat32);
  auto rounded = ClipModel::FromTensors(rounded_weights, ClipConfigMetadata(o.model), {});
  ASSERT_TRUE(rounded.ok());

  auto tokenizer = Tokenizer::LoadDefault();
  ASSERT_TRUE(tokenizer.ok());
  const PretrainBatch batch = MakePretrainBatch(o, *tokenizer, 0);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(
      torch::equal(loaded->EncodeImage(batch.pixels), in_memory->EncodeImage(batch.pixels)));
  EXPECT_TRUE(torch::equal(loaded->EncodeText(batch.tokens), rounded->EncodeText(batch.tokens)));
  EXPECT_TRUE(torch::allclose(loaded->EncodeText(batch.tokens), in_memory->EncodeText(batch.tokens),
                              1e-2, 1e-3));
  EXPECT_TRUE(torch::equal(loaded->LogitScale(), in_memory->LogitScale()));
  std::remove(o.output_path.c_str());
}

TEST(PretrainTest, ResumingFromAHalfwayCheckpointGivesIdenticalWeights) {
  const int64_t steps = 6;
  auto straight = RunPretraining(TinyOptions(steps), nullptr);
  ASSERT_TRUE(straight.ok()) << straight.status().message();

  PretrainOptions first_half = TinyOptions(steps);
  first_half.checkpoint_path = TempPath("pretrain_resume_test.safetensors");
  auto stopped = RunPretraining(first_half, [](const PretrainProgress& p) { return p.step < 3; });
  ASSERT_TRUE(stopped.ok()) << stopped.status().message();
  EXPECT_FALSE(stopped->completed);
  EXPECT_EQ(stopped->steps_done, 3);

  PretrainOptions second_half = TinyOptions(steps);
  second_half.resume_path = first_half.checkpoint_path;
  auto resumed = RunPretraining(second_half, nullptr);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  EXPECT_EQ(resumed->first_step, 3);
  EXPECT_TRUE(resumed->completed);
  for (const auto& [key, t] : straight->weights) {
    EXPECT_TRUE(torch::equal(resumed->weights.at(key), t)) << key;
  }

  PretrainOptions other_seed = second_half;
  other_seed.seed = 12;
  auto refused = RunPretraining(other_seed, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("seed 11"), std::string::npos);
  std::remove(first_half.checkpoint_path.c_str());
}

}  // namespace
}  // namespace perennial

#include "learner/eval/continual_benchmark.h"

#include <gtest/gtest.h>

#include "learner/model/tiny_clip_for_tests.h"

namespace perennial {
namespace {

const ClipModel& Model() { return TinyClipModel(/*seed=*/3); }

const Tokenizer& Tok() {
  static const Tokenizer* tokenizer = new Tokenizer(*Tokenizer::LoadDefault());
  return *tokenizer;
}

// n gray 16x16 images per class; class c has a bright quadrant c, plus a little noise.
Dataset Quadrants(int per_class, uint32_t salt) {
  const int classes = 4;
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  uint32_t state = salt;
  for (int i = 0; i < per_class * classes; ++i) {
    const int c = i % classes;
    for (int y = 0; y < 16; ++y) {
      for (int x = 0; x < 16; ++x) {
        state = state * 1664525u + 1013904223u;
        const bool bright = (y / 8) * 2 + (x / 8) == c;
        pixels.push_back(static_cast<uint8_t>((bright ? 200 : 40) + (state >> 28)));
      }
    }
    labels.push_back(c);
  }
  auto d = Dataset::FromUniform(16, 16, 1, pixels, labels,
                                {"top left", "top right", "bottom left", "bottom right"});
  EXPECT_TRUE(d.ok());
  return *std::move(d);
}

ContinualBenchmarkOptions SmokeOptions(OnlineMethod method) {
  ContinualBenchmarkOptions o;
  o.learner.method = method;
  o.learner.pet.lora_rank = 4;
  o.learner.pet.lora_alpha = 8;
  o.learner.vrlwf_num_pseudo_classes = 4;
  o.stream.num_tasks = 2;
  o.stream.seed = 5;
  o.batch_size = 8;
  o.eval_period = 16;
  o.max_test_per_class = 3;
  o.probe_samples_per_task = 4;
  return o;
}

TEST(ContinualBenchmarkTest, SmokeRunRecordsEveryMetric) {
  const Dataset train = Quadrants(16, 1), test = Quadrants(4, 2);
  std::vector<std::string> lines;
  ContinualBenchmarkOptions o = SmokeOptions(OnlineMethod::kSit);
  o.progress = [&](const std::string& line) { lines.push_back(line); };
  auto r = RunContinualBenchmark(Model(), Tok(), train, test, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ContinualRecord& rec = r->record;
  EXPECT_EQ(rec.samples_trained, 64);
  EXPECT_EQ(rec.prequential_count, 64);
  ASSERT_EQ(rec.curve.size(), 4u);
  EXPECT_EQ(rec.curve[0].samples_seen, 16);
  EXPECT_EQ(rec.curve[3].samples_seen, 64);
  EXPECT_EQ(rec.task_end_accuracy.size(), 2u);
  EXPECT_EQ(rec.task_end_class_accuracy.back().size(), 4u);
  ASSERT_EQ(rec.zero_shot.size(), 5u);
  EXPECT_EQ(r->probe_tasks[0], "colour");
  EXPECT_EQ(r->metrics.a_last, rec.task_end_accuracy.back());
  EXPECT_GE(r->metrics.a_auc, 0.0);
  EXPECT_LE(r->metrics.a_auc, 1.0);
  EXPECT_GT(r->metrics.samples_per_second, 0.0);
  EXPECT_FALSE(lines.empty());
}

TEST(ContinualBenchmarkTest, FrozenKeepsZeroShotAccuracyExactly) {
  const Dataset train = Quadrants(8, 1), test = Quadrants(2, 2);
  auto r = RunContinualBenchmark(Model(), Tok(), train, test, SmokeOptions(OnlineMethod::kFrozen));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const ZeroShotResult& z : r->record.zero_shot) EXPECT_EQ(z.accuracy, z.base_accuracy);
  EXPECT_EQ(r->metrics.f_last, r->metrics.f_last);  // defined (not NaN)
}

TEST(ContinualBenchmarkTest, RejectsMismatchedSplits) {
  Dataset other({"a", "b"});
  EXPECT_FALSE(RunContinualBenchmark(Model(), Tok(), Quadrants(2, 1), other,
                                     SmokeOptions(OnlineMethod::kSit))
                   .ok());
}

}  // namespace
}  // namespace perennial

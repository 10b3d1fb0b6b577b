#include "learner/eval/anytime_metrics.h"

#include <gtest/gtest.h>

namespace perennial {
namespace {

TEST(AnytimeMetricsTest, CountsAndAccuracies) {
  // truth:     0 1 2 2 2 1   predicted: 0 1 1 2 2 2  -> hits at rows 0, 1, 3, 4.
  const ClassCounts c = CountPredictions({0, 1, 1, 2, 2, 2}, {0, 1, 2, 2, 2, 1}, 3);
  EXPECT_EQ(c.total, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(c.correct, (std::vector<int64_t>{1, 1, 2}));
  EXPECT_DOUBLE_EQ(Accuracy(c), 4.0 / 6.0);
  const std::vector<double> per_class = PerClassAccuracy(c);
  ASSERT_EQ(per_class.size(), 3u);
  EXPECT_EQ(per_class[0], 1.0);
  EXPECT_EQ(per_class[1], 0.5);
  EXPECT_DOUBLE_EQ(per_class[2], 2.0 / 3.0);
}

TEST(AnytimeMetricsTest, ClassesWithoutSamplesScoreZeroAndOutOfRangeIsIgnored) {
  const ClassCounts c = CountPredictions({1, 0}, {1, 7}, 3);
  EXPECT_EQ(c.total, (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(PerClassAccuracy(c), (std::vector<double>{0.0, 1.0, 0.0}));
  EXPECT_EQ(Accuracy(c), 1.0);
  EXPECT_EQ(Accuracy(CountPredictions({}, {}, 2)), 0.0);
}

TEST(AnytimeMetricsTest, AreaUnderCurveIsTheMeanOfThePoints) {
  EXPECT_EQ(AreaUnderAccuracyCurve({{100, 0.25}, {200, 0.5}, {300, 0.75}, {400, 1.0}}), 0.625);
  EXPECT_EQ(AreaUnderAccuracyCurve({}), 0.0);
}

TEST(AnytimeMetricsTest, TaskEndAccuracies) {
  EXPECT_EQ(AverageAccuracy({0.5, 0.25, 0.75}), 0.5);
  EXPECT_EQ(LastAccuracy({0.5, 0.25, 0.75}), 0.75);
  EXPECT_EQ(AverageAccuracy({}), 0.0);
  EXPECT_EQ(LastAccuracy({}), 0.0);
}

TEST(AnytimeMetricsTest, LastForgettingFollowsTheReference) {
  // class 0: best earlier 0.75, last 0.25 -> +0.5; class 1: best earlier 0.5, last 0.75 -> -0.25;
  // classes 2 and 3 never scored above 0 before the last task: skipped.
  const std::vector<std::vector<double>> acc = {
      {0.75, 0.0}, {0.5, 0.5, 0.0}, {0.25, 0.75, 1.0, 0.5}};
  EXPECT_EQ(LastForgetting(acc), 0.125);
  EXPECT_EQ(LastForgetting({{0.5, 0.5}}), 0.0);
  EXPECT_EQ(LastForgetting({{0.0}, {0.5}}), 0.0);
}

TEST(AnytimeMetricsTest, EvalScheduleFiresOncePerCrossing) {
  EvalSchedule s(100);
  int64_t point = -1;
  EXPECT_FALSE(s.Due(50, &point));
  EXPECT_TRUE(s.Due(100, &point));
  EXPECT_EQ(point, 100);
  EXPECT_FALSE(s.Due(150, &point));
  EXPECT_TRUE(s.Due(320, &point));  // a big batch crossed 200 and 300: one evaluation, at 300
  EXPECT_EQ(point, 300);
  EXPECT_FALSE(s.Due(399, &point));
  EXPECT_TRUE(s.Due(400, &point));
  EXPECT_EQ(point, 400);
}

TEST(AnytimeMetricsTest, PrequentialAndRetention) {
  PrequentialAccuracy p;
  EXPECT_EQ(p.value(), 0.0);
  p.Add(3, 4);
  p.Add(1, 4);
  EXPECT_EQ(p.value(), 0.5);
  EXPECT_EQ(Retention(0.3, 0.6), 0.5);
  EXPECT_EQ(Retention(0.3, 0.0), 0.0);
}

TEST(AnytimeMetricsTest, SummarizeCombinesEverything) {
  ContinualRecord r;
  r.curve = {{10, 0.5}, {20, 1.0}};
  r.task_end_accuracy = {0.5, 0.25};
  r.task_end_class_accuracy = {{1.0, 0.0}, {0.5, 0.5}};
  r.prequential_correct = 3;
  r.prequential_count = 8;
  r.zero_shot = {{"colour", 0.5, 0.25}, {"shape", 0.25, 0.25}};
  r.samples_trained = 1000;
  r.train_seconds = 4;
  const ContinualMetrics m = Summarize(r);
  EXPECT_EQ(m.a_auc, 0.75);
  EXPECT_EQ(m.a_avg, 0.375);
  EXPECT_EQ(m.a_last, 0.25);
  EXPECT_EQ(m.f_last, 0.5);  // only class 0 had an earlier positive accuracy: 1.0 - 0.5
  EXPECT_EQ(m.prequential, 0.375);
  EXPECT_EQ(m.zero_shot_retention, (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(m.mean_zero_shot_retention, 0.75);
  EXPECT_EQ(m.mean_zero_shot_accuracy, 0.25);
  EXPECT_EQ(m.samples_per_second, 250.0);
}

TEST(AnytimeMetricsTest, MeanRetentionSkipsProbesTheBaseModelNeverGotRight) {
  ContinualRecord r;
  r.zero_shot = {{"colour", 0.0, 0.0}, {"shape", 0.5, 0.25}};
  const ContinualMetrics m = Summarize(r);
  EXPECT_EQ(m.zero_shot_retention, (std::vector<double>{0.0, 0.5}));
  EXPECT_EQ(m.mean_zero_shot_retention, 0.5);
  EXPECT_EQ(m.mean_zero_shot_accuracy, 0.125);
}

}  // namespace
}  // namespace perennial

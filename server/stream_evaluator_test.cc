// StreamEvaluator's held-out set: reservoir sampling decided before decoding (OfferEvalSample,
// then SetEvalSample) keeps the same set as offering decoded samples one by one, which is what
// lets a restart decode only the samples it keeps.
#include "server/stream_evaluator.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace perennial {
namespace {

// The held-out set needs no model: evaluation is not run here.
StreamEvaluator MakeEvaluator(size_t max_eval_samples) {
  StreamEvaluatorOptions options;
  options.max_eval_samples = max_eval_samples;
  options.seed = 7;
  return StreamEvaluator(/*model=*/nullptr, /*tokenizer=*/nullptr, {"a photo of a {}."}, options);
}

torch::Tensor Pixels() { return torch::zeros({3, 4, 4}); }

TEST(StreamEvaluatorTest, ChoosingBeforeDecodingKeepsTheSameSetAsOfferingOneByOne) {
  constexpr int kOffered = 2000;
  StreamEvaluator one_by_one = MakeEvaluator(50);
  StreamEvaluator deferred = MakeEvaluator(50);
  std::map<size_t, int> chosen;  // slot -> sample, as the restart's rescan keeps them
  for (int i = 0; i < kOffered; ++i) {
    one_by_one.AddEvalSample(Pixels(), absl::StrCat("s", i));
    if (std::optional<size_t> slot = deferred.OfferEvalSample()) chosen[*slot] = i;
  }
  for (const auto& [slot, i] : chosen) deferred.SetEvalSample(slot, Pixels(), absl::StrCat("s", i));

  ASSERT_EQ(one_by_one.eval_samples(), 50u);
  EXPECT_EQ(deferred.eval_labels(), one_by_one.eval_labels());
  // Reservoir sampling over 2,000 offers keeps later samples too, not the first 50.
  int from_the_second_half = 0;
  for (const std::string& label : one_by_one.eval_labels()) {
    from_the_second_half += std::stoi(label.substr(1)) >= kOffered / 2;
  }
  EXPECT_GT(from_the_second_half, 10);
}

TEST(StreamEvaluatorTest, FillsEverySlotBeforeDroppingAny) {
  StreamEvaluator evaluator = MakeEvaluator(3);
  EXPECT_EQ(evaluator.OfferEvalSample(), std::optional<size_t>(0));
  EXPECT_EQ(evaluator.OfferEvalSample(), std::optional<size_t>(1));
  EXPECT_EQ(evaluator.OfferEvalSample(), std::optional<size_t>(2));
  int dropped = 0;
  for (int i = 0; i < 100; ++i) {
    std::optional<size_t> slot = evaluator.OfferEvalSample();
    if (!slot.has_value()) {
      ++dropped;
      continue;
    }
    EXPECT_LT(*slot, 3u);
  }
  // Offer k (k > 3) is kept with probability 3/k: ~85 of offers 4..103 are dropped.
  EXPECT_GT(dropped, 70);
}

TEST(StreamEvaluatorTest, AnUnfilledSlotLeavesNoHole) {
  StreamEvaluator evaluator = MakeEvaluator(4);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(evaluator.OfferEvalSample(), std::optional<size_t>(i));
  evaluator.SetEvalSample(0, Pixels(), "a");
  evaluator.SetEvalSample(1, Pixels(), "b");
  // Slot 2's image did not decode; slot 3 takes the next place.
  evaluator.SetEvalSample(3, Pixels(), "d");
  EXPECT_EQ(evaluator.eval_labels(), (std::vector<std::string>{"a", "b", "d"}));
  evaluator.SetEvalSample(1, Pixels(), "B");
  evaluator.SetEvalSample(3, Pixels(), "e");
  EXPECT_EQ(evaluator.eval_labels(), (std::vector<std::string>{"a", "B", "d", "e"}));
}

TEST(StreamEvaluatorTest, NoHeldOutSetKeepsNothing) {
  StreamEvaluator evaluator = MakeEvaluator(0);
  EXPECT_EQ(evaluator.OfferEvalSample(), std::nullopt);
  evaluator.AddEvalSample(Pixels(), "a");
  EXPECT_EQ(evaluator.eval_samples(), 0u);
}

}  // namespace
}  // namespace perennial

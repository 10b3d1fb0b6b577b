#include "learner/online/sharded_image_encoder.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "learner/base/yield_point.h"
#include "learner/model/tiny_clip_for_tests.h"

namespace perennial {
namespace {

const ClipModel& Model() { return TinyClipModel(/*seed=*/3); }

Adapters TrainableAdapters() {
  auto a = Adapters::Create(Model().config(), PetOptions(), /*seed=*/5);
  EXPECT_TRUE(a.ok());
  // B starts at zero; give it values so that the adapters change the features.
  for (const torch::Tensor& t : a->Parameters()) {
    torch::NoGradGuard no_grad;
    t.normal_(0, 0.1);
  }
  return *std::move(a);
}

// More parts than images: one part per image. Features and adapter gradients equal the unsplit
// tower's up to float rounding.
TEST(ShardedImageEncoderTest, MatchesTheUnsplitTowerWithMorePartsThanImages) {
  torch::manual_seed(1);
  const torch::Tensor pixels = torch::randn({3, 3, 16, 16});
  const torch::Tensor weights = torch::randn({3, 16});
  Adapters whole = TrainableAdapters();
  Adapters split = whole.Snapshot();  // same values, own tensors
  for (const torch::Tensor& t : split.Parameters()) t.requires_grad_(true);

  torch::Tensor expected = Model().EncodeImage(pixels, &whole, /*training=*/true);
  (expected * weights).sum().backward();

  ShardedImageEncoder encoder(&Model(), /*parts=*/5);
  torch::Tensor features = encoder.Encode(pixels, &split);
  (features * weights).sum().backward();
  encoder.Backward();

  EXPECT_TRUE(torch::allclose(features, expected, 1e-5, 1e-6));
  const auto a = whole.NamedTensors(), b = split.NamedTensors();
  ASSERT_EQ(a.size(), b.size());
  int compared = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first.rfind("visual.", 0) != 0) continue;  // the text tower did not run
    const torch::Tensor &expected_grad = a[i].second.grad(), &grad = b[i].second.grad();
    ASSERT_TRUE(grad.defined()) << a[i].first;
    const double scale = expected_grad.abs().max().item<double>();
    EXPECT_LE((grad - expected_grad).abs().max().item<double>(), 1e-4 * scale) << a[i].first;
    ++compared;
  }
  EXPECT_EQ(compared, 16);  // 2 layers x 4 maps x (A, B)
}

// A failing part surfaces as the caller's exception, and the encoder keeps working.
TEST(ShardedImageEncoderTest, RethrowsAPartsFailureAndStaysUsable) {
  Adapters adapters = TrainableAdapters();
  ShardedImageEncoder encoder(&Model(), /*parts=*/2);
  EXPECT_THROW(encoder.Encode(torch::randn({4, 5, 16, 16}), &adapters), c10::Error);
  torch::Tensor features = encoder.Encode(torch::randn({4, 3, 16, 16}), &adapters);
  EXPECT_EQ(features.sizes(), (std::vector<int64_t>{4, 16}));
  features.sum().backward();
  encoder.Backward();
  EXPECT_TRUE(adapters.Parameters()[0].grad().defined());
}

// Every part pauses for queries as the training thread does: the parts on helper threads reach
// the caller's yield hook too (yield_point.h).
TEST(ShardedImageEncoderTest, PartsOnHelperThreadsReachTheCallersYieldHook) {
  Adapters adapters = TrainableAdapters();
  ShardedImageEncoder encoder(&Model(), /*parts=*/2);
  std::mutex mu;
  std::set<std::thread::id> threads;
  const ScopedYieldHook hook([&] {
    std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
  });
  encoder.Encode(torch::randn({4, 3, 16, 16}), &adapters).sum().backward();
  encoder.Backward();
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 1u);
}

}  // namespace
}  // namespace perennial

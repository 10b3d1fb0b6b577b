#include "learner/model/preprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "learner/model/npy_test_util.h"

namespace perennial {
namespace {

using test_util::NpyArray;
using test_util::NpyToImage;
using test_util::ReadNpy;

const std::string kDir = "tests/fixtures/images/";

// Fixtures from tests/fixtures/make_image_fixtures.py; the sources are read from the .decoded.npy
// arrays (Pillow's decode), so this test needs no PNG/JPEG decoder and builds in MODEL_ONLY.
const char* const kStems[] = {"photo_97x61",   "photo_80x120", "gray_45x70",
                              "gray_33x47",    "rgba_64x50",   "palette_40x33",
                              "fashion_28x28", "rgb16_30x20",  "la_interlaced_37x29"};

Image Source(const std::string& stem) { return NpyToImage(ReadNpy(kDir + stem + ".decoded.npy")); }

TEST(ResizeBicubicTest, WithinOneOfPillowOnEveryFixture) {
  const int sizes[][2] = {{23, 17}, {131, 90}, {7, 5}};
  int overall_max = 0;
  for (const char* stem : kStems) {
    const Image source = Source(stem);
    for (const auto& size : sizes) {
      const std::string name =
          std::string(stem) + ".resize_" + std::to_string(size[0]) + "x" + std::to_string(size[1]);
      SCOPED_TRACE(name);
      const Image expected = NpyToImage(ReadNpy(kDir + name + ".npy"));
      const Image ours = ResizeBicubic(source, size[0], size[1]);
      ASSERT_EQ(ours.width, expected.width);
      ASSERT_EQ(ours.height, expected.height);
      ASSERT_EQ(ours.channels, expected.channels);
      int max_diff = 0;
      size_t differing = 0;
      for (size_t i = 0; i < ours.pixels.size(); ++i) {
        const int diff = std::abs(int{ours.pixels[i]} - int{expected.pixels[i]});
        max_diff = std::max(max_diff, diff);
        differing += diff != 0;
      }
      std::printf("resize %-40s max |ours - Pillow| = %d (%zu of %zu samples differ)\n",
                  name.c_str(), max_diff, differing, ours.pixels.size());
      EXPECT_LE(max_diff, 1);
      overall_max = std::max(overall_max, max_diff);
    }
  }
  RecordProperty("max_resize_diff", overall_max);
}

TEST(ResizeBicubicTest, SameSizeIsAnExactCopyEvenWithAlpha) {
  const Image rgba = Source("rgba_64x50");
  const Image same = ResizeBicubic(rgba, rgba.width, rgba.height);
  EXPECT_EQ(same.pixels, rgba.pixels);  // Pillow skips the premultiply round trip too
}

TEST(ResizeBicubicTest, RejectsBadArguments) {
  EXPECT_THROW(ResizeBicubic(Image{}, 4, 4), c10::Error);
  EXPECT_THROW(ResizeBicubic(Source("gray_45x70"), 0, 4), c10::Error);
  Image short_pixels{2, 2, 3, std::vector<uint8_t>(11)};
  EXPECT_THROW(ResizeBicubic(short_pixels, 4, 4), c10::Error);
}

// Max |ours - reference| in units of 1/255 of the [0, 1] pixel scale (before normalisation).
double MaxDiffIn255ths(const torch::Tensor& ours, const torch::Tensor& reference,
                       const PreprocessOptions& options) {
  const torch::Tensor std =
      torch::tensor({options.std[0], options.std[1], options.std[2]}).view({3, 1, 1});
  return ((ours - reference).abs() * std * 255.0).max().item<double>();
}

TEST(PreprocessImageTest, MatchesClipTransformAt224) {
  PreprocessOptions options;  // resolution 224: all fixtures are upscaled
  const torch::Tensor mean =
      torch::tensor({options.mean[0], options.mean[1], options.mean[2]}).view({3, 1, 1});
  const torch::Tensor std =
      torch::tensor({options.std[0], options.std[1], options.std[2]}).view({3, 1, 1});
  double overall = 0;
  for (const char* stem : kStems) {
    SCOPED_TRACE(stem);
    const NpyArray crop = ReadNpy(kDir + stem + ".clip224.npy");  // uint8 [224, 224, 3]
    ASSERT_EQ(crop.shape, (std::vector<int64_t>{224, 224, 3}));
    const torch::Tensor reference =
        (torch::from_blob(const_cast<uint8_t*>(crop.bytes.data()), {224, 224, 3}, torch::kUInt8)
             .permute({2, 0, 1})
             .to(torch::kFloat32)
             .div(255) -
         mean) /
        std;
    const torch::Tensor ours = PreprocessImage(Source(stem), options);
    ASSERT_EQ(ours.sizes(), (std::vector<int64_t>{3, 224, 224}));
    const double diff = MaxDiffIn255ths(ours, reference, options);
    std::printf("clip224 %-22s max |ours - torchvision| = %.4f / 255\n", stem, diff);
    EXPECT_LE(diff, 1.0 + 1e-3);
    overall = std::max(overall, diff);
  }
  RecordProperty("max_clip224_diff_in_255ths", std::to_string(overall));
}

TEST(PreprocessImageTest, MatchesClipTransformAt32) {
  PreprocessOptions options;
  options.resolution = 32;  // downscaling (antialiased) for all but the 28x28 image
  for (const char* stem : kStems) {
    SCOPED_TRACE(stem);
    const NpyArray reference_npy = ReadNpy(kDir + stem + ".clip32.npy");  // float32 [3, 32, 32]
    std::vector<float> values = reference_npy.AsFloats();
    const torch::Tensor reference = torch::from_blob(values.data(), {3, 32, 32}).clone();
    const torch::Tensor ours = PreprocessImage(Source(stem), options);
    const double diff = MaxDiffIn255ths(ours, reference, options);
    const double abs_diff = (ours - reference).abs().max().item<double>();
    std::printf("clip32  %-22s max |ours - torchvision| = %.4f / 255 (normalised: %.3g)\n", stem,
                diff, abs_diff);
    EXPECT_LE(diff, 1.0 + 1e-3);
  }
}

TEST(PreprocessImageTest, CenterCropRoundsHalvesToEvenLikeTorchvision) {
  // Width 32 is already the resolution, so there is no resampling, only the crop.
  for (int height : {33, 35}) {
    Image gray{height, 32, 1, {}};
    for (int y = 0; y < height; ++y) gray.pixels.insert(gray.pixels.end(), 32, uint8_t(y * 7));
    PreprocessOptions options;
    options.resolution = 32;
    options.mean = {0, 0, 0};
    options.std = {1, 1, 1};
    const torch::Tensor out = PreprocessImage(gray, options);
    // round(0.5) = 0 and round(1.5) = 2 in Python, so the crop starts at row 0 resp. 2.
    const int top = height == 33 ? 0 : 2;
    EXPECT_FLOAT_EQ(out[0][0][0].item<float>(), float(top * 7) / 255.0f) << height;
    EXPECT_TRUE(torch::equal(out[0], out[2]));  // gray replicated
  }
}

TEST(PreprocessImageTest, RejectsInvalidInput) {
  EXPECT_THROW(PreprocessImage(Image{}), c10::Error);
  PreprocessOptions bad;
  bad.resolution = 0;
  EXPECT_THROW(PreprocessImage(Source("gray_45x70"), bad), c10::Error);
  std::vector<Image> batch = {Source("gray_45x70"), Image{3, 3, 3, {}}};
  try {
    PreprocessBatch(batch);
    FAIL() << "expected c10::Error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("image 1"), std::string::npos) << e.what();
  }
}

// A larger image than the fixtures (a 2.4x downscale of 640x480 to 298x224 at the default
// resolution, then a 224 crop): PreprocessImage computes only the crop window, which must give
// the same pixels as ResizeBicubic of the whole image followed by the crop.
TEST(PreprocessImageTest, WindowedResizeEqualsResizeThenCrop) {
  for (int channels : {3, 4}) {
    Image image{480, 640, channels, {}};
    image.pixels.resize(480 * 640 * channels);
    uint32_t state = 12345;
    for (uint8_t& v : image.pixels) {
      state = state * 1103515245u + 12345u;
      v = static_cast<uint8_t>(state >> 24);
    }
    PreprocessOptions options;
    options.mean = {0, 0, 0};
    options.std = {1, 1, 1};
    const torch::Tensor ours = PreprocessImage(image, options);
    const Image full = ResizeBicubic(image, 298, 224);  // int(224 * 640 / 480) = 298
    const int left = 37;                                // round((298 - 224) / 2) = 37
    torch::Tensor expected = torch::empty({3, 224, 224});
    auto e = expected.accessor<float, 3>();
    for (int c = 0; c < 3; ++c) {
      for (int y = 0; y < 224; ++y) {
        for (int x = 0; x < 224; ++x) {
          e[c][y][x] = full.pixels[(y * 298 + x + left) * channels + c] / 255.0f;
        }
      }
    }
    EXPECT_TRUE(torch::allclose(ours, expected, 0, 1e-7)) << channels;
  }
}

TEST(PreprocessBatchTest, EqualsPerImagePreprocessing) {
  std::vector<Image> images;
  for (const char* stem : kStems) images.push_back(Source(stem));
  PreprocessOptions options;
  options.resolution = 48;
  const torch::Tensor batch = PreprocessBatch(images, options);
  ASSERT_EQ(batch.sizes(), (std::vector<int64_t>{static_cast<int64_t>(images.size()), 3, 48, 48}));
  for (size_t i = 0; i < images.size(); ++i) {
    EXPECT_TRUE(torch::equal(batch[i], PreprocessImage(images[i], options))) << kStems[i];
  }
  EXPECT_EQ(PreprocessBatch({}, options).sizes(), (std::vector<int64_t>{0, 3, 48, 48}));
}

}  // namespace
}  // namespace perennial

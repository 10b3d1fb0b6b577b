#include "learner/model/pillow_resample_kernels.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <vector>

namespace perennial::resample {
namespace {

std::vector<uint8_t> RandomPixels(size_t size, std::mt19937* rng) {
  std::vector<uint8_t> pixels(size);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>((*rng)());
  return pixels;
}

// The AVX2 passes must give the portable passes' bytes exactly, for every channel count, for
// down- and upscaling (many taps and few), and for windows that end at the buffer's last byte
// (where the 3-channel pass may not read ahead).
TEST(ResampleKernelsTest, Avx2EqualsPortableByteForByte) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU or in this build";
  std::mt19937 rng(3);
  const int sizes[][4] = {{640, 480, 85, 64}, {97, 61, 224, 141}, {28, 28, 64, 64}, {33, 47, 7, 5},
                          {301, 7, 300, 9},   {5, 3, 131, 90},    {1000, 2, 17, 1}};
  int compared = 0;
  for (int channels = 1; channels <= 4; ++channels) {
    for (const auto& size : sizes) {
      const int in_w = size[0], in_h = size[1], out_w = size[2], out_h = size[3];
      const std::vector<uint8_t> image =
          RandomPixels(static_cast<size_t>(in_w) * in_h * channels, &rng);
      const size_t stride = static_cast<size_t>(in_w) * channels;
      const RowsView whole{image.data(), stride, image.data() + image.size()};
      const Coefficients horizontal = PrecomputeCoefficients(in_w, out_w);
      const size_t out_elems = static_cast<size_t>(out_w) * in_h * channels;
      std::vector<uint8_t> portable(out_elems), avx2(out_elems);
      ResampleHorizontal(whole, in_h, channels, horizontal, 0, out_w, portable.data());
      ResampleHorizontalAvx2(whole, in_h, channels, horizontal, 0, out_w, avx2.data());
      EXPECT_EQ(portable, avx2) << "horizontal, " << channels << " channels, " << in_w << "x"
                                << in_h << " -> " << out_w;

      const Coefficients vertical = PrecomputeCoefficients(in_h, out_h);
      const size_t row_elems = stride;
      std::vector<uint8_t> portable_v(row_elems * out_h), avx2_v(row_elems * out_h);
      ResampleVertical(whole, 0, row_elems, vertical, 0, out_h, portable_v.data());
      ResampleVerticalAvx2(whole, 0, row_elems, vertical, 0, out_h, avx2_v.data());
      EXPECT_EQ(portable_v, avx2_v) << "vertical, " << channels << " channels, " << in_w << "x"
                                    << in_h << " -> " << out_h << " rows";
      compared += 2;
    }
  }
  std::printf("AVX2 and portable resampling agreed on %d passes\n", compared);
}

// A window of the output (what a center crop computes): columns from x0, rows from y0 with the
// source's rows offset, as PillowResizeWindow calls them.
TEST(ResampleKernelsTest, Avx2EqualsPortableOnWindows) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU or in this build";
  std::mt19937 rng(9);
  const std::vector<uint8_t> image = RandomPixels(640 * 480 * 3, &rng);
  const Coefficients horizontal = PrecomputeCoefficients(640, 298);
  const Coefficients vertical = PrecomputeCoefficients(480, 224);
  const int x0 = 37, width = 224, y0 = 0, height = 224;
  const RowsView whole{image.data(), 640 * 3, image.data() + image.size()};
  std::vector<uint8_t> portable(width * 480 * 3), avx2(width * 480 * 3);
  ResampleHorizontal(whole, 480, 3, horizontal, x0, width, portable.data());
  ResampleHorizontalAvx2(whole, 480, 3, horizontal, x0, width, avx2.data());
  ASSERT_EQ(portable, avx2);
  // The vertical pass over the window's rows, starting at the first source row it needs.
  const int row_begin = vertical.first[y0 + 10];
  const RowsView rows{portable.data() + static_cast<size_t>(row_begin) * width * 3,
                      static_cast<size_t>(width) * 3, portable.data() + portable.size()};
  std::vector<uint8_t> portable_v(width * 3 * (height - 10)), avx2_v(portable_v.size());
  ResampleVertical(rows, row_begin, width * 3, vertical, y0 + 10, height - 10, portable_v.data());
  ResampleVerticalAvx2(rows, row_begin, width * 3, vertical, y0 + 10, height - 10, avx2_v.data());
  EXPECT_EQ(portable_v, avx2_v);
}

}  // namespace
}  // namespace perennial::resample

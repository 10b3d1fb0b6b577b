#include "learner/data/raster.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace perennial {
namespace {

constexpr Rgb kBackground{200, 210, 220};
constexpr Rgb kRed{220, 30, 35};

Image BlankImage(int side = 64, Rgb colour = kBackground) {
  Image image;
  ResetImage(side, side, &image);
  FillSolid(colour, &image);
  return image;
}

Rgb PixelAt(const Image& image, int row, int col) {
  const size_t i = (static_cast<size_t>(row) * image.width + col) * 3;
  return Rgb{image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]};
}

bool Same(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

ShapeGeometry Centered(ShapeKind kind, float radius) {
  ShapeGeometry shape;
  shape.kind = kind;
  shape.center_x = 32.0f;
  shape.center_y = 32.0f;
  shape.radius = radius;
  return shape;
}

TEST(RasterTest, ResetImageMakesRgbBuffer) {
  Image image;
  ResetImage(5, 7, &image);
  EXPECT_EQ(image.height, 5);
  EXPECT_EQ(image.width, 7);
  EXPECT_EQ(image.channels, 3);
  EXPECT_EQ(image.pixels.size(), 5u * 7u * 3u);
  ResetImage(-3, 4, &image);
  EXPECT_EQ(image.height, 0);
  EXPECT_TRUE(image.pixels.empty());
}

TEST(RasterTest, EveryShapeHasItsColourInsideAndLeavesFarBackground) {
  for (int k = 0; k < kNumShapeKinds; ++k) {
    const auto kind = static_cast<ShapeKind>(k);
    Image image = BlankImage();
    const ShapeGeometry shape = Centered(kind, 10.0f);
    DrawShape(shape, kRed, &image);
    // The ring's centre is its hole: test the middle of its band instead (0.72 r).
    const int probe_col = kind == ShapeKind::kRing ? 39 : 32;
    EXPECT_TRUE(Same(PixelAt(image, 32, probe_col), kRed)) << "kind " << k;
    EXPECT_TRUE(Same(PixelAt(image, 2, 2), kBackground)) << "kind " << k;
    EXPECT_TRUE(Same(PixelAt(image, 61, 61), kBackground)) << "kind " << k;
    EXPECT_TRUE(Same(PixelAt(image, 2, 61), kBackground)) << "kind " << k;
    if (kind == ShapeKind::kRing) {
      EXPECT_TRUE(Same(PixelAt(image, 32, 32), kBackground)) << "ring hole";
    }
  }
}

TEST(RasterTest, ShapesStayWithinTheirExtentAtAnyRotation) {
  const float rotations[][2] = {{1, 0}, {0.8f, 0.6f}, {0.6f, -0.8f}, {0, 1}};
  for (int k = 0; k < kNumShapeKinds; ++k) {
    const auto kind = static_cast<ShapeKind>(k);
    EXPECT_LE(ShapeExtent(kind), 1.2f);
    for (const auto& rotation : rotations) {
      ShapeGeometry shape = Centered(kind, 10.0f);
      shape.cos_angle = rotation[0];
      shape.sin_angle = rotation[1];
      float farthest = 0;
      for (float y = 10; y < 54; y += 0.25f) {
        for (float x = 10; x < 54; x += 0.25f) {
          if (ShapeSignedDistance(shape, x, y) < 0) {
            farthest = std::fmax(farthest, std::hypot(x - 32, y - 32));
          }
        }
      }
      EXPECT_LE(farthest, ShapeExtent(kind) * 10.0f + 0.01f) << "kind " << k;
      EXPECT_GE(farthest, 0.75f * ShapeExtent(kind) * 10.0f) << "extent too loose, kind " << k;
    }
  }
}

// Coverage summed over the image approximates the exact area: checks the antialiasing and the
// distance scale of the SDFs.
double CoveredArea(const ShapeGeometry& shape) {
  Image image = BlankImage(64, Rgb{0, 0, 0});
  DrawShape(shape, Rgb{255, 255, 255}, &image);
  double sum = 0;
  for (size_t i = 0; i < image.pixels.size(); i += 3) sum += image.pixels[i] / 255.0;
  return sum;
}

TEST(RasterTest, AntialiasedAreaMatchesGeometry) {
  const float r = 12.0f;
  const double pi = 3.14159265358979;
  EXPECT_NEAR(CoveredArea(Centered(ShapeKind::kCircle, r)), pi * r * r, 0.01 * pi * r * r);
  const double side = 2 * 0.82 * r;
  EXPECT_NEAR(CoveredArea(Centered(ShapeKind::kSquare, r)), side * side, 0.01 * side * side);
  const double ring = pi * ((r * r) - (0.44 * r) * (0.44 * r));
  EXPECT_NEAR(CoveredArea(Centered(ShapeKind::kRing, r)), ring, 0.02 * ring);
  const double diamond = 2 * 0.78 * r * 1.1 * r;
  EXPECT_NEAR(CoveredArea(Centered(ShapeKind::kDiamond, r)), diamond, 0.02 * diamond);
  const double cross = 2 * (2 * r * 0.68 * r) - (0.68 * r) * (0.68 * r);
  EXPECT_NEAR(CoveredArea(Centered(ShapeKind::kCross, r)), cross, 0.02 * cross);
  const double triangle = std::sqrt(3.0) * (0.95 * r) * (0.95 * r);
  EXPECT_NEAR(CoveredArea(Centered(ShapeKind::kTriangle, r)), triangle, 0.02 * triangle);
}

TEST(RasterTest, EdgesAreAntialiased) {
  Image image = BlankImage(64, Rgb{0, 0, 0});
  DrawShape(Centered(ShapeKind::kCircle, 10.3f), Rgb{255, 255, 255}, &image);
  int partial = 0;
  for (size_t i = 0; i < image.pixels.size(); i += 3) {
    if (image.pixels[i] > 0 && image.pixels[i] < 255) ++partial;
  }
  // Roughly one ring of partially covered pixels around a circumference of ~65 pixels.
  EXPECT_GT(partial, 40);
  EXPECT_LT(partial, 140);
}

// The shapes must be told apart at small sizes: no two kinds cover nearly the same pixels.
TEST(RasterTest, ShapeKindsAreDistinctAtSmallSize) {
  std::vector<std::vector<bool>> masks;
  for (int k = 0; k < kNumShapeKinds; ++k) {
    Image image = BlankImage(64, Rgb{0, 0, 0});
    DrawShape(Centered(static_cast<ShapeKind>(k), 6.0f), Rgb{255, 255, 255}, &image);
    std::vector<bool> mask;
    for (size_t i = 0; i < image.pixels.size(); i += 3) mask.push_back(image.pixels[i] >= 128);
    masks.push_back(mask);
  }
  for (int a = 0; a < kNumShapeKinds; ++a) {
    for (int b = a + 1; b < kNumShapeKinds; ++b) {
      int both = 0, either = 0;
      for (size_t i = 0; i < masks[a].size(); ++i) {
        both += masks[a][i] && masks[b][i];
        either += masks[a][i] || masks[b][i];
      }
      EXPECT_LT(static_cast<double>(both) / either, 0.85) << "kinds " << a << " and " << b;
    }
  }
}

TEST(RasterTest, RejectsMalformedImagesWithoutChangingThem) {
  Image gray;
  gray.height = gray.width = 4;
  gray.channels = 1;
  gray.pixels.assign(16, 7);
  DrawShape(Centered(ShapeKind::kCircle, 3), kRed, &gray);
  FillSolid(kRed, &gray);
  AddNoise(10, 1, &gray);
  EXPECT_EQ(gray.pixels, std::vector<uint8_t>(16, 7));

  Image short_buffer;
  short_buffer.height = short_buffer.width = 4;
  short_buffer.channels = 3;
  short_buffer.pixels.assign(5, 1);
  FillStripes(kRed, kBackground, 2, 0, &short_buffer);
  DrawShape(Centered(ShapeKind::kStar, 3), kRed, &short_buffer);
  EXPECT_EQ(short_buffer.pixels, std::vector<uint8_t>(5, 1));

  Image image = BlankImage(8);
  ShapeGeometry nan_shape = Centered(ShapeKind::kHeart, 3);
  nan_shape.center_x = std::nanf("");
  DrawShape(nan_shape, kRed, &image);
  ShapeGeometry off_image = Centered(ShapeKind::kSquare, 3);
  off_image.center_x = -1e9f;
  DrawShape(off_image, kRed, &image);
  EXPECT_TRUE(Same(PixelAt(image, 4, 4), kBackground));
  DrawShape(Centered(ShapeKind::kCircle, 3), kRed, nullptr);
}

TEST(RasterTest, StripesCheckerAndGradient) {
  const Rgb a{10, 20, 30}, b{200, 100, 50};
  Image image = BlankImage(8);
  FillStripes(a, b, 2, 0, &image);  // horizontal bands: rows 0-1 a, 2-3 b, ...
  EXPECT_TRUE(Same(PixelAt(image, 1, 7), a));
  EXPECT_TRUE(Same(PixelAt(image, 2, 0), b));
  FillStripes(a, b, 3, 1, &image);  // vertical
  EXPECT_TRUE(Same(PixelAt(image, 7, 2), a));
  EXPECT_TRUE(Same(PixelAt(image, 0, 3), b));
  FillChecker(a, b, 2, &image);
  EXPECT_TRUE(Same(PixelAt(image, 0, 0), a));
  EXPECT_TRUE(Same(PixelAt(image, 0, 2), b));
  EXPECT_TRUE(Same(PixelAt(image, 2, 2), a));
  FillGradient(a, b, 0, &image);
  EXPECT_TRUE(Same(PixelAt(image, 3, 0), a));
  EXPECT_TRUE(Same(PixelAt(image, 3, 7), b));
  EXPECT_EQ(PixelAt(image, 0, 4).r, 119);  // (10 * 3 + 200 * 4 + 3) / 7
  FillGradient(a, b, 2, &image);
  EXPECT_TRUE(Same(PixelAt(image, 0, 0), a));
  EXPECT_TRUE(Same(PixelAt(image, 7, 7), b));
}

TEST(RasterTest, NoiseIsBoundedCenteredAndSeeded) {
  Image first = BlankImage(64, Rgb{100, 100, 100});
  Image second = first;
  Image other = first;
  AddNoise(20, 42, &first);
  AddNoise(20, 42, &second);
  AddNoise(20, 43, &other);
  EXPECT_EQ(first.pixels, second.pixels);
  EXPECT_NE(first.pixels, other.pixels);
  double sum = 0;
  int distinct_low = 0;
  for (size_t i = 0; i < first.pixels.size(); i += 3) {
    const int v = first.pixels[i];
    ASSERT_GE(v, 80);
    ASSERT_LE(v, 120);
    EXPECT_EQ(first.pixels[i + 1], v);  // gray noise: same delta on every channel
    sum += v - 100;
    distinct_low += v == 80;
  }
  EXPECT_NEAR(sum / (64 * 64), 0.0, 1.0);
  EXPECT_GT(distinct_low, 0);  // the extremes are reached
}

}  // namespace
}  // namespace perennial

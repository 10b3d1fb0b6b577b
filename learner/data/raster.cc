#include "learner/data/raster.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "learner/data/world_random.h"

namespace perennial {
namespace {

// Shape proportions relative to the nominal radius, chosen so that all kinds look about equally
// large and stay recognisable down to a radius of ~5 pixels.
constexpr float kSquareHalfSide = 0.82f;
constexpr float kTriangleHalfSide = 0.95f;  // circumradius 1.097
constexpr float kDiamondHalfWidth = 0.78f;
constexpr float kDiamondHalfHeight = 1.1f;
constexpr float kStarOuter = 1.12f;
constexpr float kStarInnerFactor = 0.45f;
constexpr float kCrossArm = 1.0f;
constexpr float kCrossHalfThickness = 0.34f;
constexpr float kHeartScale = 1.75f;    // heart SDF units per radius
constexpr float kHeartCenterY = 0.55f;  // heart SDF y of the visual centre (tip at 0, top at 1.1)
constexpr float kRingMid = 0.72f;
constexpr float kRingHalfWidth = 0.28f;

float Length(float x, float y) { return std::sqrt(x * x + y * y); }
float Sign(float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }
float Clamp(float v, float lo, float hi) { return std::min(std::max(v, lo), hi); }

// The SDFs below follow Inigo Quilez's 2D distance functions, in a local frame with y pointing up
// and lengths in pixels.
float SdBox(float px, float py, float bx, float by) {
  const float dx = std::fabs(px) - bx;
  const float dy = std::fabs(py) - by;
  return Length(std::max(dx, 0.0f), std::max(dy, 0.0f)) + std::min(std::max(dx, dy), 0.0f);
}

float SdEquilateralTriangle(float px, float py, float r) {
  const float k = 1.7320508f;
  px = std::fabs(px) - r;
  py = py + r / k;
  if (px + k * py > 0.0f) {
    const float nx = (px - k * py) * 0.5f;
    const float ny = (-k * px - py) * 0.5f;
    px = nx;
    py = ny;
  }
  px -= Clamp(px, -2.0f * r, 0.0f);
  return -Length(px, py) * Sign(py);
}

float SdRhombus(float px, float py, float bx, float by) {
  px = std::fabs(px);
  py = std::fabs(py);
  const float ndot = (bx - 2.0f * px) * bx - (by - 2.0f * py) * by;
  const float h = Clamp(ndot / (bx * bx + by * by), -1.0f, 1.0f);
  const float d = Length(px - 0.5f * bx * (1.0f - h), py - 0.5f * by * (1.0f + h));
  return d * Sign(px * by + py * bx - bx * by);
}

float SdStar5(float px, float py, float r, float rf) {
  const float k1x = 0.809016994375f, k1y = -0.587785252292f;
  const float k2x = -k1x, k2y = k1y;
  px = std::fabs(px);
  float t = 2.0f * std::max(k1x * px + k1y * py, 0.0f);
  px -= t * k1x;
  py -= t * k1y;
  t = 2.0f * std::max(k2x * px + k2y * py, 0.0f);
  px -= t * k2x;
  py -= t * k2y;
  px = std::fabs(px);
  py -= r;
  const float bax = rf * -k1y;
  const float bay = rf * k1x - 1.0f;
  const float h = Clamp((px * bax + py * bay) / (bax * bax + bay * bay), 0.0f, r);
  return Length(px - bax * h, py - bay * h) * Sign(py * bax - px * bay);
}

float SdCross(float px, float py, float bx, float by) {
  px = std::fabs(px);
  py = std::fabs(py);
  if (py > px) std::swap(px, py);
  const float qx = px - bx;
  const float qy = py - by;
  const float k = std::max(qx, qy);
  const float wx = k > 0.0f ? qx : by - px;
  const float wy = k > 0.0f ? qy : -k;
  return Sign(k) * Length(std::max(wx, 0.0f), std::max(wy, 0.0f));
}

// Heart with its tip at the origin and its lobes reaching y = 1.1, in its own units.
float SdHeartUnit(float px, float py) {
  px = std::fabs(px);
  if (py + px > 1.0f) return Length(px - 0.25f, py - 0.75f) - 0.35355339f;
  const float a = px * px + (py - 1.0f) * (py - 1.0f);
  const float m = 0.5f * std::max(px + py, 0.0f);
  const float b = (px - m) * (px - m) + (py - m) * (py - m);
  return std::sqrt(std::min(a, b)) * Sign(px - py);
}

bool IsRgbImage(const Image& image) {
  return image.channels == 3 && image.height >= 0 && image.width >= 0 &&
         image.pixels.size() ==
             static_cast<size_t>(image.height) * static_cast<size_t>(image.width) * 3;
}

uint8_t Lerp8(uint8_t a, uint8_t b, int i, int n) {
  if (n <= 1) return a;
  return static_cast<uint8_t>((a * (n - 1 - i) + b * i + (n - 1) / 2) / (n - 1));
}

// `n` RGB pixels colour(0), ..., colour(n - 1) as bytes.
template <typename ColourAt>
std::vector<uint8_t> Strip(int n, ColourAt colour) {
  std::vector<uint8_t> bytes(static_cast<size_t>(std::max(n, 0)) * 3);
  for (int i = 0; i < n; ++i) {
    const Rgb c = colour(i);
    bytes[i * 3] = c.r;
    bytes[i * 3 + 1] = c.g;
    bytes[i * 3 + 2] = c.b;
  }
  return bytes;
}

// Copies one row's worth of pixels from `source` into row `row`.
void CopyRow(const uint8_t* source, int row, Image* image) {
  const size_t bytes = static_cast<size_t>(image->width) * 3;
  std::memcpy(image->pixels.data() + row * bytes, source, bytes);
}

}  // namespace

float ShapeExtent(ShapeKind kind) {
  switch (kind) {
    case ShapeKind::kCircle:
    case ShapeKind::kRing: return 1.0f;
    case ShapeKind::kSquare: return kSquareHalfSide * 1.41421356f;
    case ShapeKind::kTriangle: return kTriangleHalfSide * 1.15470054f;
    case ShapeKind::kDiamond: return kDiamondHalfHeight;
    case ShapeKind::kStar: return kStarOuter;
    case ShapeKind::kCross: return Length(kCrossArm, kCrossHalfThickness);
    case ShapeKind::kHeart: return 0.68f * kHeartScale;
  }
  return 1.2f;
}

float ShapeSignedDistance(const ShapeGeometry& shape, float x, float y) {
  const float dx = x - shape.center_x;
  const float dy = y - shape.center_y;
  // Rotate into the shape's frame and flip y so that "up" is positive, as the SDFs expect.
  const float lx = shape.cos_angle * dx + shape.sin_angle * dy;
  const float ly = shape.sin_angle * dx - shape.cos_angle * dy;
  const float r = shape.radius;
  switch (shape.kind) {
    case ShapeKind::kCircle: return Length(lx, ly) - r;
    case ShapeKind::kSquare: return SdBox(lx, ly, kSquareHalfSide * r, kSquareHalfSide * r);
    case ShapeKind::kTriangle: return SdEquilateralTriangle(lx, ly, kTriangleHalfSide * r);
    case ShapeKind::kDiamond:
      return SdRhombus(lx, ly, kDiamondHalfWidth * r, kDiamondHalfHeight * r);
    case ShapeKind::kStar: return SdStar5(lx, ly, kStarOuter * r, kStarInnerFactor);
    case ShapeKind::kCross: return SdCross(lx, ly, kCrossArm * r, kCrossHalfThickness * r);
    case ShapeKind::kHeart: {
      const float s = kHeartScale * r;
      return SdHeartUnit(lx / s, ly / s + kHeartCenterY) * s;
    }
    case ShapeKind::kRing: return std::fabs(Length(lx, ly) - kRingMid * r) - kRingHalfWidth * r;
  }
  return Length(lx, ly) - r;
}

void DrawShape(const ShapeGeometry& shape, Rgb colour, Image* image) {
  if (image == nullptr || !IsRgbImage(*image) || !(shape.radius > 0.0f)) return;
  const float reach = ShapeExtent(shape.kind) * shape.radius + 1.0f;
  if (!std::isfinite(shape.center_x) || !std::isfinite(shape.center_y) || !std::isfinite(reach)) {
    return;
  }
  const int x0 = static_cast<int>(Clamp(std::floor(shape.center_x - reach), 0.0f, image->width));
  const int x1 = static_cast<int>(Clamp(std::ceil(shape.center_x + reach), 0.0f, image->width));
  const int y0 = static_cast<int>(Clamp(std::floor(shape.center_y - reach), 0.0f, image->height));
  const int y1 = static_cast<int>(Clamp(std::ceil(shape.center_y + reach), 0.0f, image->height));
  const float c[3] = {static_cast<float>(colour.r), static_cast<float>(colour.g),
                      static_cast<float>(colour.b)};
  for (int row = y0; row < y1; ++row) {
    uint8_t* line = &image->pixels[static_cast<size_t>(row) * image->width * 3];
    int col = x0;
    while (col < x1) {
      const float d = ShapeSignedDistance(shape, col + 0.5f, row + 0.5f);
      // The SDFs are exact distances (1-Lipschitz), so one evaluation also decides the next
      // floor(|d| - 0.5) pixels of the row: all outside (d >= 0.5) or all fully inside
      // (d <= -0.5). This row marching evaluates a few pixels per row instead of every one.
      if (d >= 0.5f) {
        col += 1 + static_cast<int>(std::min(d - 0.5f, 1e6f));
        continue;
      }
      if (d <= -0.5f) {
        const int end = std::min(x1, col + 1 + static_cast<int>(std::min(-0.5f - d, 1e6f)));
        for (; col < end; ++col) {
          line[col * 3] = colour.r;
          line[col * 3 + 1] = colour.g;
          line[col * 3 + 2] = colour.b;
        }
        continue;
      }
      if (d < 0.5f) {  // false for NaN
        const float coverage = 0.5f - d;
        uint8_t* p = &line[col * 3];
        for (int k = 0; k < 3; ++k) {
          const float v = p[k] + (c[k] - p[k]) * coverage;
          p[k] = static_cast<uint8_t>(Clamp(v + 0.5f, 0.0f, 255.0f));
        }
      }
      ++col;
    }
  }
}

void ResetImage(int height, int width, Image* image) {
  if (image == nullptr) return;
  image->height = std::max(height, 0);
  image->width = std::max(width, 0);
  image->channels = 3;
  image->pixels.assign(static_cast<size_t>(image->height) * image->width * 3, 0);
}

void FillSolid(Rgb colour, Image* image) {
  if (image == nullptr || !IsRgbImage(*image) || image->pixels.empty()) return;
  const std::vector<uint8_t> row = Strip(image->width, [&](int) { return colour; });
  for (int r = 0; r < image->height; ++r) CopyRow(row.data(), r, image);
}

void FillGradient(Rgb from, Rgb to, int direction, Image* image) {
  if (image == nullptr || !IsRgbImage(*image) || image->pixels.empty()) return;
  const int h = image->height, w = image->width;
  // Colours along the gradient axis; each row is a window of it (direction 1: one entry).
  const int n = direction == 1 ? h : (direction == 2 ? h + w - 1 : w);
  const std::vector<uint8_t> ramp = Strip(n, [&](int i) {
    return Rgb{Lerp8(from.r, to.r, i, n), Lerp8(from.g, to.g, i, n), Lerp8(from.b, to.b, i, n)};
  });
  for (int r = 0; r < h; ++r) {
    if (direction == 1) {
      const std::vector<uint8_t> row = Strip(w, [&](int) {
        return Rgb{ramp[r * 3], ramp[r * 3 + 1], ramp[r * 3 + 2]};
      });
      CopyRow(row.data(), r, image);
    } else {
      CopyRow(ramp.data() + (direction == 2 ? r * 3 : 0), r, image);
    }
  }
}

void FillStripes(Rgb a, Rgb b, int width, int orientation, Image* image) {
  if (image == nullptr || !IsRgbImage(*image) || image->pixels.empty()) return;
  width = std::max(width, 1);
  const int h = image->height, w = image->width;
  const auto band = [&](int t) { return (t / width) % 2 == 0 ? a : b; };
  if (orientation == 1) {
    const std::vector<uint8_t> row = Strip(w, band);
    for (int r = 0; r < h; ++r) CopyRow(row.data(), r, image);
  } else if (orientation == 2) {
    // Bands of t = row - col + w; row r reads entries q = col + h - r of this strip.
    const std::vector<uint8_t> strip = Strip(h + w, [&](int q) { return band(h + w - q); });
    for (int r = 0; r < h; ++r) CopyRow(strip.data() + (h - r) * 3, r, image);
  } else if (orientation == 3) {
    const std::vector<uint8_t> strip = Strip(h + w, band);  // bands of t = row + col
    for (int r = 0; r < h; ++r) CopyRow(strip.data() + r * 3, r, image);
  } else {
    const std::vector<uint8_t> row_a = Strip(w, [&](int) { return a; });
    const std::vector<uint8_t> row_b = Strip(w, [&](int) { return b; });
    for (int r = 0; r < h; ++r) {
      CopyRow((r / width) % 2 == 0 ? row_a.data() : row_b.data(), r, image);
    }
  }
}

void FillChecker(Rgb a, Rgb b, int cell, Image* image) {
  if (image == nullptr || !IsRgbImage(*image) || image->pixels.empty()) return;
  cell = std::max(cell, 1);
  const auto square = [&](int c) { return (c / cell) % 2 == 0 ? a : b; };
  const auto shifted = [&](int c) { return (c / cell) % 2 == 0 ? b : a; };
  const std::vector<uint8_t> even = Strip(image->width, square);
  const std::vector<uint8_t> odd = Strip(image->width, shifted);
  for (int r = 0; r < image->height; ++r) {
    CopyRow((r / cell) % 2 == 0 ? even.data() : odd.data(), r, image);
  }
}

void AddNoise(int amplitude, uint64_t seed, Image* image) {
  if (image == nullptr || !IsRgbImage(*image) || amplitude <= 0) return;
  amplitude = std::min(amplitude, 255);
  const uint32_t span = static_cast<uint32_t>(2 * amplitude + 1);
  const size_t num_pixels = image->pixels.size() / 3;
  uint64_t bits = 0;
  for (size_t i = 0; i < num_pixels; ++i) {
    // One 64-bit hash feeds four pixels (16 bits each).
    if (i % 4 == 0) bits = Mix64(seed ^ (0xA24BAED4963EE407ULL * (i / 4 + 1)));
    const int delta = static_cast<int>(((bits & 0xFFFF) * span) >> 16) - amplitude;
    bits >>= 16;
    for (int k = 0; k < 3; ++k) {
      uint8_t& p = image->pixels[i * 3 + k];
      p = static_cast<uint8_t>(std::min(std::max(p + delta, 0), 255));
    }
  }
}

}  // namespace perennial

// File: learner/data/raster.h
//
// Drawing primitives of the synthetic world: antialiased filled shapes (signed distance functions
// with a one-pixel box-filter edge) and background patterns, on RGB uint8 HWC images. Pure C++
// (no LibTorch), allocation-free after the image exists, and deterministic: only +, -, *, / and
// sqrt are used, so the same inputs give the same bytes everywhere.
//
// Coordinates are continuous pixel units: x to the right, y downwards, the centre of pixel
// (row, col) at (col + 0.5, row + 0.5).
//
// Every function accepts any Image: one that is not 3-channel or whose pixel buffer does not match
// its size is left unchanged (never a crash). Thread-compatible: distinct images may be drawn from
// several threads.
#ifndef PERENNIAL_LEARNER_DATA_RASTER_H_
#define PERENNIAL_LEARNER_DATA_RASTER_H_

#include <cstdint>

#include "learner/model/image.h"

namespace perennial {

// The shape kinds, in the order of ShapeNames() (world_attributes.h).
enum class ShapeKind : uint8_t {
  kCircle,
  kSquare,
  kTriangle,
  kDiamond,
  kStar,
  kCross,
  kHeart,
  kRing,
};
inline constexpr int kNumShapeKinds = 8;

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// One shape instance. `radius` is the nominal size: a circle's radius; other kinds are scaled so
// that they look about as large (their farthest point is at most ShapeExtent(kind) * radius from
// the centre, whatever the rotation).
struct ShapeGeometry {
  ShapeKind kind = ShapeKind::kCircle;
  float center_x = 0.0f;
  float center_y = 0.0f;
  float radius = 1.0f;
  // Rotation (counter-clockwise on screen) as a unit vector, so that callers can build it without
  // transcendental functions (whose results differ across math libraries).
  float cos_angle = 1.0f;
  float sin_angle = 0.0f;
};

// The largest distance of any point of `kind` from its centre, in units of the radius (<= 1.2).
float ShapeExtent(ShapeKind kind);

// Signed distance in pixels from (x, y) to the shape's outline: negative inside. Exact for most
// kinds near the outline, which is all the antialiasing needs.
float ShapeSignedDistance(const ShapeGeometry& shape, float x, float y);

// Blends `colour` over the image with coverage clamp(0.5 - distance, 0, 1) per pixel.
void DrawShape(const ShapeGeometry& shape, Rgb colour, Image* image);

// Resizes `image` to height x width x 3 (pixels zeroed). Negative sizes are treated as 0.
void ResetImage(int height, int width, Image* image);

void FillSolid(Rgb colour, Image* image);

// Linear blend from `from` to `to` along `direction`: 0 left to right, 1 top to bottom, 2 top-left
// to bottom-right diagonal (others are treated as 0).
void FillGradient(Rgb from, Rgb to, int direction, Image* image);

// Stripes of width `width` pixels (>= 1) alternating `a` and `b`. `orientation`: 0 horizontal
// bands, 1 vertical, 2 diagonal "\", 3 diagonal "/".
void FillStripes(Rgb a, Rgb b, int width, int orientation, Image* image);

// A checkerboard of `cell` x `cell` pixel squares (cell >= 1).
void FillChecker(Rgb a, Rgb b, int cell, Image* image);

// Adds the same uniform integer noise in [-amplitude, amplitude] to the three channels of each
// pixel (saturating), drawn from a hash of (seed, pixel index).
void AddNoise(int amplitude, uint64_t seed, Image* image);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_RASTER_H_

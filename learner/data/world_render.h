// File: learner/data/world_render.h
//
// Turns a scene description (Attributes) into pixels: lays the objects out (a single object in
// its 3 x 3 position region; groups and pairs in distinct cells of a 3 x 3 grid, or 2 x 2 when an
// object is large, so objects never touch), jitters sizes, colours and rotations, and draws the
// background and the shapes with raster.h. Pure function of (attributes, options, render_seed).
// Thread-safe.
#ifndef PERENNIAL_LEARNER_DATA_WORLD_RENDER_H_
#define PERENNIAL_LEARNER_DATA_WORLD_RENDER_H_

#include <cstdint>
#include <vector>

#include "learner/data/raster.h"
#include "learner/data/world_attributes.h"
#include "learner/data/world_options.h"
#include "learner/model/image.h"

namespace perennial {

// One drawn object: where, how large, and the exact (jittered) colour used.
struct PlacedObject {
  ShapeGeometry geometry;
  Rgb colour;
};

struct RenderedScene {
  Image image;                        // options.resolution square, RGB uint8 HWC
  std::vector<PlacedObject> objects;  // the `count` primary objects first, then the second one
};

// Draws `attributes` using options.resolution, colour_jitter and max_rotation_degrees (clamped
// as ClampWorldOptions does). Out-of-range attribute indices are clamped; never fails.
RenderedScene RenderScene(const Attributes& attributes, const WorldOptions& options,
                          uint64_t render_seed);

// The PositionNames() index of the 3 x 3 region holding point (x, y) of a resolution-side image.
int PositionRegion(float x, float y, int resolution);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_WORLD_RENDER_H_

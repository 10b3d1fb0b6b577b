#include "learner/data/world_render.h"

#include <algorithm>
#include <utility>

#include "learner/data/world_random.h"

namespace perennial {
namespace {

constexpr float kSizeJitter = 0.06f;      // radius varies by +-6% inside a size class
constexpr float kPositionJitter = 0.22f;  // single objects move +-22% of a region around its centre
constexpr float kAntialiasMargin = 1.0f;  // pixels kept free around each object's extent

// tan(degrees / 2) by its Taylor series (accurate to 1e-4 up to 45 degrees): only + and *, so
// it is bit-identical everywhere, unlike std::tan.
float TanHalfAngle(float degrees) {
  const float x = degrees * (3.14159265f / 360.0f);
  const float x2 = x * x;
  return x * (1.0f + x2 * (1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (17.0f / 315.0f))));
}

uint8_t ClampByte(int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

// Mostly a common brightness shift, plus a third as much per channel, so that hues (and gray)
// stay true to their names.
Rgb JitterColour(Rgb c, int jitter, WorldRng* rng) {
  const int common = rng->Range(-jitter, jitter);
  const int tint = jitter / 3;
  const int dr = common + rng->Range(-tint, tint);
  const int dg = common + rng->Range(-tint, tint);
  const int db = common + rng->Range(-tint, tint);
  return Rgb{ClampByte(c.r + dr), ClampByte(c.g + dg), ClampByte(c.b + db)};
}

// A near-neutral tone with a slight tint.
Rgb Tone(int lo, int hi, WorldRng* rng) {
  const int base = rng->Range(lo, hi);
  const int dr = rng->Range(-5, 5);
  const int dg = rng->Range(-5, 5);
  const int db = rng->Range(-5, 5);
  return Rgb{ClampByte(base + dr), ClampByte(base + dg), ClampByte(base + db)};
}

// Light backgrounds stay >= 185 and dark ones <= 65 (noise included), so every object colour,
// mid gray included, stands out.
void DrawBackground(BackgroundKind kind, WorldRng* rng, Image* image) {
  const bool light = kind == BackgroundKind::kPlainLight ||
                     (kind != BackgroundKind::kPlainDark && rng->Bernoulli(0.5f));
  const int lo = light ? 190 : 15;
  const int hi = light ? 240 : 60;
  switch (kind) {
    case BackgroundKind::kPlainLight:
    case BackgroundKind::kPlainDark: FillSolid(Tone(lo, hi, rng), image); return;
    case BackgroundKind::kGradient: {
      const Rgb from = Tone(lo, hi, rng);
      const Rgb to = Tone(lo, hi, rng);
      FillGradient(from, to, rng->Range(0, 2), image);
      return;
    }
    case BackgroundKind::kNoise: {
      const int amplitude = rng->Range(6, 18);
      FillSolid(Tone(light ? 205 : 25, light ? 225 : 45, rng), image);
      AddNoise(amplitude, rng->NextU64(), image);
      return;
    }
    case BackgroundKind::kStripes: {
      const Rgb a = Tone(lo, hi, rng);
      const Rgb b = Tone(lo, hi, rng);
      const int width = std::max(1, image->width * rng->Range(3, 9) / 64);
      FillStripes(a, b, width, rng->Range(0, 3), image);
      return;
    }
    case BackgroundKind::kChecker: {
      const Rgb a = Tone(lo, hi, rng);
      const Rgb b = Tone(lo, hi, rng);
      FillChecker(a, b, std::max(1, image->width * rng->Range(4, 10) / 64), image);
      return;
    }
  }
  FillSolid(Tone(lo, hi, rng), image);
}

// Draws the random parts of one object (radius jitter, rotation, colour jitter) and returns it
// with its centre still unset.
PlacedObject MakeObject(int shape, int colour, int size, const WorldOptions& options,
                        WorldRng* rng) {
  PlacedObject object;
  object.geometry.kind = static_cast<ShapeKind>(std::clamp(shape, 0, kNumShapes - 1));
  object.geometry.radius = SizeRadiusFraction(size) * static_cast<float>(options.resolution) *
                           rng->Uniform(1.0f - kSizeJitter, 1.0f + kSizeJitter);
  const float t_max = TanHalfAngle(options.max_rotation_degrees);
  const float t = rng->Uniform(-t_max, t_max);
  object.geometry.cos_angle = (1.0f - t * t) / (1.0f + t * t);
  object.geometry.sin_angle = 2.0f * t / (1.0f + t * t);
  object.colour = JitterColour(ColourRgb(colour), options.colour_jitter, rng);
  return object;
}

float Reach(const PlacedObject& object) {
  return ShapeExtent(object.geometry.kind) * object.geometry.radius + kAntialiasMargin;
}

// A coordinate uniformly inside [lo, hi] that keeps `reach` from both ends (the middle when the
// object does not fit, which the size fractions avoid).
float PlaceIn(float lo, float hi, float reach, WorldRng* rng) {
  const float a = lo + reach;
  const float b = hi - reach;
  if (!(a < b)) return 0.5f * (lo + hi);
  return rng->Uniform(a, b);
}

// Puts `object` somewhere inside grid cell (row, col) of a `grid` x `grid` layout.
void PlaceInCell(int row, int col, int grid, int resolution, WorldRng* rng, PlacedObject* object) {
  const float cell = static_cast<float>(resolution) / grid;
  const float reach = Reach(*object);
  object->geometry.center_x = PlaceIn(col * cell, (col + 1) * cell, reach, rng);
  object->geometry.center_y = PlaceIn(row * cell, (row + 1) * cell, reach, rng);
}

void PlaceSingle(int position, int resolution, WorldRng* rng, PlacedObject* object) {
  position = std::clamp(position, 0, kNumPositions - 1);
  const float res = static_cast<float>(resolution);
  const float cell = res / 3.0f;
  const float reach = Reach(*object);
  const float cx = (position % 3 + 0.5f) * cell + rng->Uniform(-1, 1) * kPositionJitter * cell;
  const float cy = (position / 3 + 0.5f) * cell + rng->Uniform(-1, 1) * kPositionJitter * cell;
  object->geometry.center_x = std::clamp(cx, reach, res - reach);
  object->geometry.center_y = std::clamp(cy, reach, res - reach);
}

void LayoutGroup(const Attributes& a, const WorldOptions& options, WorldRng* rng,
                 std::vector<PlacedObject>* objects) {
  const int grid = a.size >= 2 ? 2 : 3;
  const int count = std::clamp(a.count, 1, kMaxCount);
  int cells[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  for (int i = 0; i < count; ++i) {  // partial Fisher-Yates: `count` distinct cells
    const int j = rng->Range(i, grid * grid - 1);
    std::swap(cells[i], cells[j]);
    PlacedObject object = MakeObject(a.shape, a.colour, a.size, options, rng);
    PlaceInCell(cells[i] / grid, cells[i] % grid, grid, options.resolution, rng, &object);
    objects->push_back(object);
  }
}

void LayoutPair(const Attributes& a, const WorldOptions& options, WorldRng* rng,
                std::vector<PlacedObject>* objects) {
  const int grid = (a.size >= 2 || a.second_size >= 2) ? 2 : 3;
  // Two ordered lanes (columns for left/right, rows for above/below) and one shared other index.
  int first = 0, second = 1;
  if (grid == 3) {
    static constexpr int kLanes[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    const int k = rng->Range(0, 2);
    first = kLanes[k][0];
    second = kLanes[k][1];
  }
  const int shared = rng->Range(0, grid - 1);
  const bool horizontal = a.relation != Relation::kAbove && a.relation != Relation::kBelow;
  const bool primary_first = a.relation != Relation::kRightOf && a.relation != Relation::kBelow;
  const int primary_lane = primary_first ? first : second;
  const int second_lane = primary_first ? second : first;
  PlacedObject p = MakeObject(a.shape, a.colour, a.size, options, rng);
  PlacedObject s = MakeObject(a.second_shape, a.second_colour, a.second_size, options, rng);
  if (horizontal) {
    PlaceInCell(shared, primary_lane, grid, options.resolution, rng, &p);
    PlaceInCell(shared, second_lane, grid, options.resolution, rng, &s);
  } else {
    PlaceInCell(primary_lane, shared, grid, options.resolution, rng, &p);
    PlaceInCell(second_lane, shared, grid, options.resolution, rng, &s);
  }
  objects->push_back(p);
  objects->push_back(s);
}

}  // namespace

RenderedScene RenderScene(const Attributes& attributes, const WorldOptions& raw_options,
                          uint64_t render_seed) {
  const WorldOptions options = ClampWorldOptions(raw_options);
  WorldRng rng(render_seed);
  RenderedScene scene;
  ResetImage(options.resolution, options.resolution, &scene.image);
  DrawBackground(attributes.background, &rng, &scene.image);
  if (attributes.has_second) {
    LayoutPair(attributes, options, &rng, &scene.objects);
  } else if (attributes.count >= 2) {
    LayoutGroup(attributes, options, &rng, &scene.objects);
  } else {
    PlacedObject object =
        MakeObject(attributes.shape, attributes.colour, attributes.size, options, &rng);
    PlaceSingle(attributes.position, options.resolution, &rng, &object);
    scene.objects.push_back(object);
  }
  for (const PlacedObject& object : scene.objects) {
    DrawShape(object.geometry, object.colour, &scene.image);
  }
  return scene;
}

int PositionRegion(float x, float y, int resolution) {
  const float cell = static_cast<float>(std::max(resolution, 1)) / 3.0f;
  const int col = std::clamp(static_cast<int>(x / cell), 0, 2);
  const int row = std::clamp(static_cast<int>(y / cell), 0, 2);
  return row * 3 + col;
}

}  // namespace perennial

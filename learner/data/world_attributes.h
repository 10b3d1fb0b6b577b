// File: learner/data/world_attributes.h
//
// The vocabulary of the synthetic image-caption world: the attribute values a scene is made of,
// their English names (as they appear in captions and probe labels), the colours' RGB values, and
// the fixed set of held-out attribute combinations that pretraining never sees and the zero-shot
// probes test. All tables are constants, independent of any seed, so that a model pretrained with
// one seed is probed on exactly the combinations it never saw.
//
// Thread-safe: the tables are immutable after first use.
#ifndef PERENNIAL_LEARNER_DATA_WORLD_ATTRIBUTES_H_
#define PERENNIAL_LEARNER_DATA_WORLD_ATTRIBUTES_H_

#include <string>
#include <utility>
#include <vector>

#include "learner/data/raster.h"

namespace perennial {

inline constexpr int kNumShapes = kNumShapeKinds;  // 8
inline constexpr int kNumColours = 10;
inline constexpr int kNumSizes = 3;
inline constexpr int kNumPositions = 9;  // a 3 x 3 grid of regions, row-major from the top left
inline constexpr int kMaxCount = 4;      // objects of one kind in a scene: 1..kMaxCount

// Where the primary object is relative to the second one ("a red circle left of a blue square").
enum class Relation : uint8_t { kNone, kLeftOf, kRightOf, kAbove, kBelow };

// Backgrounds in curriculum order: level L of WorldOptions allows the first 2 + 2 * L kinds.
enum class BackgroundKind : uint8_t {
  kPlainLight,
  kPlainDark,
  kGradient,
  kNoise,
  kStripes,
  kChecker,
};
inline constexpr int kNumBackgroundKinds = 6;

// What one scene shows. Indices refer to the name tables below. A scene is one of: a single
// object (count 1, position set), a group of `count` (2..4) identical-looking objects of one shape,
// colour and size (position -1), or two different objects in a spatial relation (count 1,
// has_second, position -1).
struct Attributes {
  int shape = 0;
  int colour = 0;
  int size = 0;
  int position = -1;  // PositionNames() index of a single object; -1 for groups and pairs
  int count = 1;      // objects of the primary kind
  bool has_second = false;
  int second_shape = 0;
  int second_colour = 0;
  int second_size = 0;
  Relation relation = Relation::kNone;  // primary relative to second; kNone unless has_second
  BackgroundKind background = BackgroundKind::kPlainLight;

  // Total number of objects drawn.
  int ObjectCount() const { return count + (has_second ? 1 : 0); }
};

// "circle", "square", "triangle", "diamond", "star", "cross", "heart", "ring" (ShapeKind order).
const std::vector<std::string>& ShapeNames();
// Plurals in the same order ("circles", ..., "crosses", ...).
const std::vector<std::string>& ShapePluralNames();
// "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "gray".
const std::vector<std::string>& ColourNames();
// "small", "medium", "large".
const std::vector<std::string>& SizeNames();
// "top left", "top center", "top right", "center left", "center", "center right",
// "bottom left", "bottom center", "bottom right".
const std::vector<std::string>& PositionNames();
// "one", "two", "three", "four": index i names the count i + 1.
const std::vector<std::string>& CountNames();
// "plain light", "plain dark", "gradient", "noise", "stripes", "checker".
const std::vector<std::string>& BackgroundNames();
// "left of", "right of", "above", "below"; "" for kNone.
const std::string& RelationPhrase(Relation relation);
// The relation seen from the other object (left of <-> right of, above <-> below).
Relation InverseRelation(Relation relation);

// The nominal sRGB value of a colour index (out of range: mid gray). Objects are drawn with a
// small seeded jitter around it.
Rgb ColourRgb(int colour);

// Nominal radius of a size class as a fraction of the image side.
float SizeRadiusFraction(int size);

// Held-out (shape, colour) pairs: for shape s, colours s and (s + 3) % 10. Every shape has two
// held-out colours and every colour is held out for one or two shapes, so each colour and each
// shape can be probed. 16 of the 80 pairs.
bool IsHeldOutShapeColour(int shape, int colour);
const std::vector<std::pair<int, int>>& HeldOutShapeColours();
// Held-out (shape, count) pairs: for shape s, the count 2 + s % 3 (each of 2, 3, 4 is held out
// for some shapes; count 1 never is).
bool IsHeldOutShapeCount(int shape, int count);
// True when any object of the scene has a held-out (shape, colour) pair or the group a held-out
// (shape, count) pair.
bool IsHeldOut(const Attributes& attributes);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_WORLD_ATTRIBUTES_H_

#include "learner/data/world_attributes.h"

namespace perennial {

const std::vector<std::string>& ShapeNames() {
  static const auto* names = new std::vector<std::string>{"circle", "square", "triangle", "diamond",
                                                          "star",   "cross",  "heart",    "ring"};
  return *names;
}

const std::vector<std::string>& ShapePluralNames() {
  static const auto* names = new std::vector<std::string>{
      "circles", "squares", "triangles", "diamonds", "stars", "crosses", "hearts", "rings"};
  return *names;
}

const std::vector<std::string>& ColourNames() {
  static const auto* names = new std::vector<std::string>{
      "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "gray"};
  return *names;
}

const std::vector<std::string>& SizeNames() {
  static const auto* names = new std::vector<std::string>{"small", "medium", "large"};
  return *names;
}

const std::vector<std::string>& PositionNames() {
  static const auto* names = new std::vector<std::string>{
      "top left",     "top center",  "top right",     "center left", "center",
      "center right", "bottom left", "bottom center", "bottom right"};
  return *names;
}

const std::vector<std::string>& CountNames() {
  static const auto* names = new std::vector<std::string>{"one", "two", "three", "four"};
  return *names;
}

const std::vector<std::string>& BackgroundNames() {
  static const auto* names = new std::vector<std::string>{"plain light", "plain dark", "gradient",
                                                          "noise",       "stripes",    "checker"};
  return *names;
}

const std::string& RelationPhrase(Relation relation) {
  static const auto* phrases =
      new std::vector<std::string>{"", "left of", "right of", "above", "below"};
  const auto i = static_cast<size_t>(relation);
  return (*phrases)[i < phrases->size() ? i : 0];
}

Relation InverseRelation(Relation relation) {
  switch (relation) {
    case Relation::kLeftOf: return Relation::kRightOf;
    case Relation::kRightOf: return Relation::kLeftOf;
    case Relation::kAbove: return Relation::kBelow;
    case Relation::kBelow: return Relation::kAbove;
    case Relation::kNone: break;
  }
  return Relation::kNone;
}

Rgb ColourRgb(int colour) {
  // Saturated, well separated hues plus brown and a mid gray; every one contrasts with both the
  // light (>= 185) and the dark (<= 60) neutral backgrounds.
  static constexpr Rgb kColours[kNumColours] = {
      {220, 30, 35},    // red
      {250, 135, 20},   // orange
      {240, 220, 40},   // yellow
      {40, 175, 60},    // green
      {40, 205, 225},   // cyan
      {40, 80, 230},    // blue
      {145, 55, 200},   // purple
      {250, 130, 195},  // pink
      {135, 78, 35},    // brown
      {128, 128, 128},  // gray
  };
  if (colour < 0 || colour >= kNumColours) return Rgb{128, 128, 128};
  return kColours[colour];
}

float SizeRadiusFraction(int size) {
  static constexpr float kFractions[kNumSizes] = {0.085f, 0.12f, 0.18f};
  if (size < 0 || size >= kNumSizes) return kFractions[1];
  return kFractions[size];
}

bool IsHeldOutShapeColour(int shape, int colour) {
  if (shape < 0 || shape >= kNumShapes) return false;
  return colour == shape || colour == (shape + 3) % kNumColours;
}

const std::vector<std::pair<int, int>>& HeldOutShapeColours() {
  static const auto* pairs = [] {
    auto* v = new std::vector<std::pair<int, int>>;
    for (int s = 0; s < kNumShapes; ++s) {
      for (int c = 0; c < kNumColours; ++c) {
        if (IsHeldOutShapeColour(s, c)) v->emplace_back(s, c);
      }
    }
    return v;
  }();
  return *pairs;
}

bool IsHeldOutShapeCount(int shape, int count) {
  if (shape < 0 || shape >= kNumShapes) return false;
  return count == 2 + shape % 3;
}

bool IsHeldOut(const Attributes& attributes) {
  if (IsHeldOutShapeColour(attributes.shape, attributes.colour)) return true;
  if (IsHeldOutShapeCount(attributes.shape, attributes.count)) return true;
  return attributes.has_second &&
         IsHeldOutShapeColour(attributes.second_shape, attributes.second_colour);
}

}  // namespace perennial

#include "learner/data/world_captions.h"

#include <algorithm>

namespace perennial {
namespace {

constexpr uint32_t kShape = kMentionsShape;
constexpr uint32_t kColour = kMentionsColour;
constexpr uint32_t kSize = kMentionsSize;
constexpr uint32_t kPosition = kMentionsPosition;
constexpr uint32_t kCount = kMentionsCount;
constexpr uint32_t kRelation = kMentionsRelation;

const std::string& Name(const std::vector<std::string>& table, int index) {
  return table[static_cast<size_t>(std::clamp(index, 0, static_cast<int>(table.size()) - 1))];
}

// "an" before a vowel sound (of the words used here: only "orange").
std::string WithArticle(const std::string& phrase) {
  const char c = phrase.empty() ? 'x' : phrase[0];
  const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
  return (vowel ? "an " : "a ") + phrase;
}

// Names of one object's attributes.
struct ObjectWords {
  std::string shape, shapes, colour, size;
};

ObjectWords WordsOf(int shape, int colour, int size) {
  return ObjectWords{Name(ShapeNames(), shape), Name(ShapePluralNames(), shape),
                     Name(ColourNames(), colour), Name(SizeNames(), size)};
}

void AddCountCaptions(const std::string& count, std::vector<Caption>* out) {
  out->push_back({count + " in total.", kCount});
  out->push_back({"the number of objects is " + count + ".", kCount});
}

void AddSingle(const Attributes& a, std::vector<Caption>* out) {
  const ObjectWords w = WordsOf(a.shape, a.colour, a.size);
  const std::string where = "in the " + Name(PositionNames(), a.position);
  const std::string cs = w.colour + " " + w.shape;
  *out = {
      {"a " + w.size + " " + cs + " " + where + ".", kShape | kColour | kSize | kPosition},
      {"a photo of " + WithArticle(cs) + ".", kShape | kColour},
      {WithArticle(cs) + ".", kShape | kColour},
      {WithArticle(cs) + " " + where + ".", kShape | kColour | kPosition},
      {"a " + w.size + " " + cs + ".", kShape | kColour | kSize},
      {"one " + cs + ".", kShape | kColour | kCount},
      {"a photo of a " + w.shape + ".", kShape},
      {"a " + w.shape + ".", kShape},
      {"a " + w.size + " " + w.shape + ".", kShape | kSize},
      {"a " + w.shape + " " + where + ".", kShape | kPosition},
      {"something " + w.colour + ".", kColour},
      {"the shape is " + w.colour + ".", kColour},
      {"a photo of something " + w.colour + ".", kColour},
      {"something " + where + ".", kPosition},
      {"a shape " + where + ".", kPosition},
      {"something " + w.size + ".", kSize},
      {"the shape is " + w.size + ".", kSize},
  };
  AddCountCaptions("one", out);
}

void AddGroup(const Attributes& a, std::vector<Caption>* out) {
  const ObjectWords w = WordsOf(a.shape, a.colour, a.size);
  const std::string n = Name(CountNames(), a.count - 1);
  *out = {
      {n + " " + w.size + " " + w.colour + " " + w.shapes + ".", kShape | kColour | kSize | kCount},
      {n + " " + w.colour + " " + w.shapes + ".", kShape | kColour | kCount},
      {"a photo of " + n + " " + w.colour + " " + w.shapes + ".", kShape | kColour | kCount},
      {w.colour + " " + w.shapes + ".", kShape | kColour},
      {n + " " + w.shapes + ".", kShape | kCount},
      {"a photo of " + n + " " + w.shapes + ".", kShape | kCount},
      {"a photo of " + w.shapes + ".", kShape},
      {"something " + w.colour + ".", kColour},
      {"a photo of something " + w.colour + ".", kColour},
      {n + " " + w.size + " shapes.", kSize | kCount},
  };
  AddCountCaptions(n, out);
}

void AddPair(const Attributes& a, std::vector<Caption>* out) {
  const ObjectWords p = WordsOf(a.shape, a.colour, a.size);
  const ObjectWords s = WordsOf(a.second_shape, a.second_colour, a.second_size);
  const std::string& rel = RelationPhrase(a.relation);
  const std::string& inv = RelationPhrase(InverseRelation(a.relation));
  const std::string pc = WithArticle(p.colour + " " + p.shape);
  const std::string sc = WithArticle(s.colour + " " + s.shape);
  const std::string full_p = "a " + p.size + " " + p.colour + " " + p.shape;
  const std::string full_s = "a " + s.size + " " + s.colour + " " + s.shape;
  *out = {
      {full_p + " " + rel + " " + full_s + ".", kShape | kColour | kSize | kRelation},
      {pc + " " + rel + " " + sc + ".", kShape | kColour | kRelation},
      {sc + " " + inv + " " + pc + ".", kShape | kColour | kRelation},
      {pc + " and " + sc + ".", kShape | kColour},
      {sc + " and " + pc + ".", kShape | kColour},
      {"a " + p.shape + " " + rel + " a " + s.shape + ".", kShape | kRelation},
      {"a " + p.shape + " and a " + s.shape + ".", kShape},
      {"something " + p.colour + " and something " + s.colour + ".", kColour},
  };
  AddCountCaptions("two", out);
}

}  // namespace

CaptionFocus FocusOf(uint32_t mentions) {
  const bool shape = (mentions & kMentionsShape) != 0;
  const bool colour = (mentions & kMentionsColour) != 0;
  if (shape && colour) return CaptionFocus::kShapeAndColour;
  if (shape) return CaptionFocus::kShapeOnly;
  if (colour) return CaptionFocus::kColourOnly;
  return CaptionFocus::kOther;
}

std::vector<Caption> MakeCaptions(const Attributes& attributes) {
  std::vector<Caption> captions;
  if (attributes.has_second) {
    AddPair(attributes, &captions);
  } else if (attributes.count >= 2) {
    AddGroup(attributes, &captions);
  } else {
    AddSingle(attributes, &captions);
  }
  return captions;
}

}  // namespace perennial

#include "learner/data/synthetic_world.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "learner/data/world_probes.h"

namespace perennial {
namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

uint64_t Fnv1a(const void* data, size_t size, uint64_t hash = 0xCBF29CE484222325ULL) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 0x100000001B3ULL;
  return hash;
}

// Hash of everything a sample carries that a trainer consumes.
uint64_t SampleHash(const WorldSample& s) {
  uint64_t h = Fnv1a(s.image.pixels.data(), s.image.pixels.size());
  for (const Caption& c : s.captions) h = Fnv1a(c.text.data(), c.text.size(), h);
  return Fnv1a(&s.caption_index, sizeof(s.caption_index), h);
}

int IndexOf(const std::vector<std::string>& table, const std::string& word) {
  const auto it = std::find(table.begin(), table.end(), word);
  return it == table.end() ? -1 : static_cast<int>(it - table.begin());
}

// One object as a caption describes it; -1 where the caption says nothing.
struct ParsedObject {
  int shape = -1, colour = -1, size = -1;
};

struct ParsedCaption {
  std::vector<ParsedObject> objects;
  int position = -1;
  int count = -1;
  Relation relation = Relation::kNone;
  uint32_t mentions = 0;
  std::string error;  // an unknown word or malformed phrase
};

// Reads a caption back with the world's vocabulary, independently of MakeCaptions.
ParsedCaption Parse(const std::string& text) {
  ParsedCaption out;
  if (text.empty() || text.back() != '.') out.error = "no final period";
  std::vector<std::string> words;
  std::istringstream stream(text.substr(0, text.size() - 1));
  for (std::string w; stream >> w;) words.push_back(w);
  const std::set<std::string> filler = {"a",      "an",  "photo",   "of",    "something", "is",
                                        "number", "the", "objects", "shape", "shapes"};
  ParsedObject pending;
  bool has_pending = false;
  const auto flush = [&] {
    if (has_pending) out.objects.push_back(pending);
    pending = ParsedObject();
    has_pending = false;
  };
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    int k;
    if (w == "in" && i + 1 < words.size() && words[i + 1] == "total") {
      ++i;
    } else if (w == "in" && i + 1 < words.size() && words[i + 1] == "the") {
      std::string phrase;
      for (size_t j = i + 2; j < words.size(); ++j) {
        phrase += (phrase.empty() ? "" : " ") + words[j];
      }
      out.position = IndexOf(PositionNames(), phrase);
      if (out.position < 0) out.error = "bad position '" + phrase + "'";
      out.mentions |= kMentionsPosition;
      break;
    } else if ((w == "left" || w == "right") && i + 1 < words.size() && words[i + 1] == "of") {
      flush();
      out.relation = w == "left" ? Relation::kLeftOf : Relation::kRightOf;
      out.mentions |= kMentionsRelation;
      ++i;
    } else if (w == "above" || w == "below") {
      flush();
      out.relation = w == "above" ? Relation::kAbove : Relation::kBelow;
      out.mentions |= kMentionsRelation;
    } else if (w == "and") {
      flush();
    } else if ((k = IndexOf(CountNames(), w)) >= 0) {
      out.count = k + 1;
      out.mentions |= kMentionsCount;
    } else if ((k = IndexOf(ColourNames(), w)) >= 0) {
      pending.colour = k;
      has_pending = true;
      out.mentions |= kMentionsColour;
    } else if ((k = IndexOf(SizeNames(), w)) >= 0) {
      pending.size = k;
      has_pending = true;
      out.mentions |= kMentionsSize;
    } else if ((k = std::max(IndexOf(ShapeNames(), w), IndexOf(ShapePluralNames(), w))) >= 0) {
      pending.shape = k;
      has_pending = true;
      out.mentions |= kMentionsShape;
      flush();
    } else if (filler.count(w) == 0) {
      out.error = "unknown word '" + w + "'";
    }
  }
  flush();
  return out;
}

bool Matches(const ParsedObject& p, int shape, int colour, int size) {
  return (p.shape < 0 || p.shape == shape) && (p.colour < 0 || p.colour == colour) &&
         (p.size < 0 || p.size == size);
}

bool MatchesPrimary(const ParsedObject& p, const Attributes& a) {
  return Matches(p, a.shape, a.colour, a.size);
}

bool MatchesSecond(const ParsedObject& p, const Attributes& a) {
  return a.has_second && Matches(p, a.second_shape, a.second_colour, a.second_size);
}

// Every statement of `caption` is true of `a`, and its mention bits are exactly what it states.
void ExpectCaptionTrue(const Caption& caption, const Attributes& a) {
  SCOPED_TRACE("caption: " + caption.text);
  const ParsedCaption p = Parse(caption.text);
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.mentions, caption.mentions);
  EXPECT_NE(p.mentions, 0u);
  for (const ParsedObject& object : p.objects) {
    EXPECT_TRUE(MatchesPrimary(object, a) || MatchesSecond(object, a));
  }
  if (p.position >= 0) {
    EXPECT_EQ(p.position, a.position);
  }
  if (p.count >= 0) {
    EXPECT_EQ(p.count, a.ObjectCount());
  }
  if (p.relation != Relation::kNone) {
    ASSERT_TRUE(a.has_second);
    ASSERT_EQ(p.objects.size(), 2u);
    // Whichever object the caption names first, the relation must hold from its point of view.
    const bool primary_first = MatchesPrimary(p.objects[0], a) && !MatchesPrimary(p.objects[1], a);
    EXPECT_EQ(p.relation, primary_first ? a.relation : InverseRelation(a.relation));
  }
}

std::vector<std::vector<int>> ForegroundMask(const Image& image, int threshold) {
  const uint8_t* bg = image.pixels.data();  // a corner is always background
  std::vector<std::vector<int>> mask(image.height, std::vector<int>(image.width, 0));
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      const uint8_t* p = &image.pixels[(static_cast<size_t>(y) * image.width + x) * 3];
      int diff = 0;
      for (int c = 0; c < 3; ++c) diff = std::max(diff, std::abs(p[c] - bg[c]));
      mask[y][x] = diff > threshold;
    }
  }
  return mask;
}

// 8-connected components of the foreground mask (iterative flood fill).
int CountComponents(std::vector<std::vector<int>> mask) {
  const int h = static_cast<int>(mask.size()), w = static_cast<int>(mask[0].size());
  int components = 0;
  for (int y0 = 0; y0 < h; ++y0) {
    for (int x0 = 0; x0 < w; ++x0) {
      if (mask[y0][x0] != 1) continue;
      ++components;
      std::vector<std::pair<int, int>> stack = {{y0, x0}};
      mask[y0][x0] = 2;
      while (!stack.empty()) {
        const auto [y, x] = stack.back();
        stack.pop_back();
        for (int dy = -1; dy <= 1; ++dy) {
          for (int dx = -1; dx <= 1; ++dx) {
            const int ny = y + dy, nx = x + dx;
            if (ny < 0 || nx < 0 || ny >= h || nx >= w || mask[ny][nx] != 1) continue;
            mask[ny][nx] = 2;
            stack.push_back({ny, nx});
          }
        }
      }
    }
  }
  return components;
}

Rgb PixelAt(const Image& image, float x, float y) {
  const size_t i = (static_cast<size_t>(y) * image.width + static_cast<size_t>(x)) * 3;
  return Rgb{image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]};
}

// A point of the object that is fully covered by it (the ring's centre is its hole).
void InteriorPoint(const PlacedObject& object, float* x, float* y) {
  *x = object.geometry.center_x;
  *y = object.geometry.center_y;
  if (object.geometry.kind == ShapeKind::kRing) *x += 0.72f * object.geometry.radius;
}

// The test's own parser must see what captions say, or the caption test below proves nothing.
TEST(CaptionParserTest, ReadsObjectsRelationsPositionsAndCounts) {
  ParsedCaption p = Parse("a small red circle left of a large blue square.");
  EXPECT_EQ(p.error, "");
  ASSERT_EQ(p.objects.size(), 2u);
  EXPECT_EQ(p.objects[0].shape, 0);
  EXPECT_EQ(p.objects[0].colour, 0);
  EXPECT_EQ(p.objects[0].size, 0);
  EXPECT_EQ(p.objects[1].shape, 1);
  EXPECT_EQ(p.objects[1].colour, 5);
  EXPECT_EQ(p.relation, Relation::kLeftOf);
  p = Parse("three gray rings.");
  EXPECT_EQ(p.count, 3);
  EXPECT_EQ(p.objects[0].shape, 7);
  p = Parse("something in the bottom center.");
  EXPECT_EQ(p.position, 7);
  EXPECT_EQ(p.mentions, static_cast<uint32_t>(kMentionsPosition));
  EXPECT_NE(Parse("a red circel.").error, "");
  EXPECT_NE(Parse("something in the middle.").error, "");
  Attributes blue_circle;
  blue_circle.colour = 5;
  blue_circle.position = 0;
  EXPECT_FALSE(MatchesPrimary(Parse("a red circle.").objects[0], blue_circle));
  EXPECT_TRUE(MatchesPrimary(Parse("a blue circle.").objects[0], blue_circle));
}

// ---------------------------------------------------------------------------------------------
// Vocabulary and held-out tables

TEST(WorldAttributesTest, TablesHaveTheDocumentedSizes) {
  EXPECT_EQ(ShapeNames().size(), 8u);
  EXPECT_EQ(ShapePluralNames().size(), 8u);
  EXPECT_EQ(ColourNames().size(), 10u);
  EXPECT_EQ(SizeNames().size(), 3u);
  EXPECT_EQ(PositionNames().size(), 9u);
  EXPECT_EQ(CountNames().size(), 4u);
  EXPECT_EQ(BackgroundNames().size(), static_cast<size_t>(kNumBackgroundKinds));
  EXPECT_EQ(ShapeNames()[static_cast<int>(ShapeKind::kHeart)], "heart");
  EXPECT_EQ(RelationPhrase(Relation::kLeftOf), "left of");
  EXPECT_EQ(InverseRelation(Relation::kAbove), Relation::kBelow);
}

TEST(WorldAttributesTest, ColoursArePerceptuallyDistinct) {
  for (int a = 0; a < kNumColours; ++a) {
    for (int b = a + 1; b < kNumColours; ++b) {
      const Rgb x = ColourRgb(a), y = ColourRgb(b);
      const double d =
          std::sqrt(std::pow(x.r - y.r, 2) + std::pow(x.g - y.g, 2) + std::pow(x.b - y.b, 2));
      EXPECT_GT(d, 80.0) << ColourNames()[a] << " vs " << ColourNames()[b];
    }
  }
}

TEST(WorldAttributesTest, HeldOutPairsCoverEveryShapeAndColour) {
  EXPECT_EQ(HeldOutShapeColours().size(), 16u);
  std::vector<int> per_shape(kNumShapes, 0), per_colour(kNumColours, 0);
  for (const auto& [s, c] : HeldOutShapeColours()) {
    EXPECT_TRUE(IsHeldOutShapeColour(s, c));
    ++per_shape[s];
    ++per_colour[c];
  }
  for (int s = 0; s < kNumShapes; ++s) EXPECT_EQ(per_shape[s], 2) << ShapeNames()[s];
  for (int c = 0; c < kNumColours; ++c) {
    EXPECT_GE(per_colour[c], 1) << ColourNames()[c];
    EXPECT_LE(per_colour[c], 2) << ColourNames()[c];
  }
  // Pinned so that an accidental change of the held-out set fails loudly.
  EXPECT_TRUE(IsHeldOutShapeColour(0, 0));  // red circle
  EXPECT_TRUE(IsHeldOutShapeColour(0, 3));  // green circle
  EXPECT_TRUE(IsHeldOutShapeColour(7, 0));  // red ring
  EXPECT_FALSE(IsHeldOutShapeColour(0, 5));
  for (int count = 2; count <= kMaxCount; ++count) {
    int shapes = 0;
    for (int s = 0; s < kNumShapes; ++s) shapes += IsHeldOutShapeCount(s, count);
    EXPECT_GE(shapes, 2) << count;
  }
  for (int s = 0; s < kNumShapes; ++s) EXPECT_FALSE(IsHeldOutShapeCount(s, 1));
  EXPECT_TRUE(IsHeldOutShapeCount(0, 2));
  EXPECT_TRUE(IsHeldOutShapeCount(1, 3));
}

// ---------------------------------------------------------------------------------------------
// Options

TEST(WorldOptionsTest, ValidatesEachField) {
  EXPECT_TRUE(ValidateWorldOptions(WorldOptions()).ok());
  WorldOptions o;
  o.resolution = 8;
  EXPECT_NE(std::string(ValidateWorldOptions(o).message()).find("resolution"), std::string::npos);
  o = WorldOptions();
  o.background_level = 3;
  EXPECT_NE(std::string(ValidateWorldOptions(o).message()).find("background_level"),
            std::string::npos);
  o = WorldOptions();
  o.group_probability = 0.9f;
  EXPECT_FALSE(ValidateWorldOptions(o).ok());
  o = WorldOptions();
  o.hard_negative_fraction = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(ValidateWorldOptions(o).code(), StatusCode::kInvalidArgument);
  o = WorldOptions();
  o.shape_and_colour_caption_weight = o.shape_only_caption_weight = 0;
  o.colour_only_caption_weight = o.other_caption_weight = 0;
  EXPECT_FALSE(ValidateWorldOptions(o).ok());
}

TEST(WorldOptionsTest, GeneratorsSurviveAnyOptionValues) {
  WorldOptions o;
  o.resolution = -5;
  o.background_level = 99;
  o.max_count = 0;
  o.group_probability = std::numeric_limits<float>::infinity();
  o.pair_probability = std::numeric_limits<float>::quiet_NaN();
  o.colour_jitter = 1000;
  o.max_rotation_degrees = -1;
  o.shape_only_caption_weight = -3;
  o.hard_negative_fraction = 7;
  EXPECT_TRUE(ValidateWorldOptions(ClampWorldOptions(o)).ok());
  const WorldSample s = Generate(3, 4, o);
  EXPECT_EQ(s.image.height, 16);
  EXPECT_EQ(s.image.pixels.size(), 16u * 16u * 3u);
  EXPECT_FALSE(s.captions.empty());
  EXPECT_EQ(GenerateBatch(3, 1, 4, o).size(), 4u);
  EXPECT_TRUE(GenerateBatch(3, 1, 0, o).empty());
  EXPECT_EQ(GenerateProbeSample(ProbeTasks()[0], 3, 4, o).image.width, 16);
}

// ---------------------------------------------------------------------------------------------
// Determinism

TEST(SyntheticWorldTest, SameSeedAndIndexGiveIdenticalSamples) {
  for (uint64_t index : {0u, 1u, 977u}) {
    const WorldSample a = Generate(11, index);
    const WorldSample b = Generate(11, index);
    EXPECT_EQ(a.image.pixels, b.image.pixels);
    EXPECT_EQ(a.caption_index, b.caption_index);
    ASSERT_EQ(a.captions.size(), b.captions.size());
    for (size_t i = 0; i < a.captions.size(); ++i)
      EXPECT_EQ(a.captions[i].text, b.captions[i].text);
  }
}

// Pinned hashes: a change of any pixel, caption or choice fails here. If the world is changed on
// purpose, update the numbers (and retrain the shipped model: its card cites this world).
TEST(SyntheticWorldTest, PinnedSampleHashes) {
  EXPECT_EQ(SampleHash(Generate(1, 0)), 0x741B2F3B0CE97D7FULL);
  EXPECT_EQ(SampleHash(Generate(1, 1)), 0xD130B349885A05DCULL);
  EXPECT_EQ(SampleHash(Generate(1, 2)), 0xB3F734885487F4B5ULL);
  EXPECT_EQ(SampleHash(Generate(42, 123456789)), 0x3AB36FEED34EC6BFULL);
  WorldOptions small;
  small.resolution = 32;
  small.background_level = 0;
  EXPECT_EQ(SampleHash(Generate(5, 6, small)), 0x3EB8268D83F5B8FAULL);
  const LabeledProbeSample probe = GenerateProbeSample(ProbeTasks()[1], 9, 10);
  EXPECT_EQ(Fnv1a(probe.image.pixels.data(), probe.image.pixels.size()), 0x0F9931525FDEB3EAULL);
}

TEST(SyntheticWorldTest, DifferentSeedsAndIndicesDiffer) {
  std::set<uint64_t> hashes;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    for (uint64_t index = 0; index < 50; ++index) hashes.insert(SampleHash(Generate(seed, index)));
  }
  EXPECT_EQ(hashes.size(), 200u);
  EXPECT_NE(Generate(1, 5).image.pixels, Generate(2, 5).image.pixels);
}

TEST(SyntheticWorldTest, ImagesHaveTheRequestedShape) {
  WorldOptions o;
  o.resolution = 96;
  const WorldSample s = Generate(1, 2, o);
  EXPECT_EQ(s.image.height, 96);
  EXPECT_EQ(s.image.width, 96);
  EXPECT_EQ(s.image.channels, 3);
  EXPECT_EQ(s.image.pixels.size(), 96u * 96u * 3u);
}

// ---------------------------------------------------------------------------------------------
// Splits

TEST(SyntheticWorldTest, TrainSplitNeverShowsAHeldOutCombination) {
  int groups = 0, pairs = 0;
  std::set<std::pair<int, int>> seen_pairs;
  for (uint64_t index = 0; index < 10000; ++index) {
    const Attributes a = Generate(17, index).attributes;
    ASSERT_FALSE(IsHeldOut(a)) << "index " << index;
    ASSERT_FALSE(IsHeldOutShapeColour(a.shape, a.colour));
    ASSERT_FALSE(IsHeldOutShapeCount(a.shape, a.count));
    if (a.has_second) {
      ASSERT_FALSE(IsHeldOutShapeColour(a.second_shape, a.second_colour));
    }
    groups += a.count >= 2;
    pairs += a.has_second;
    seen_pairs.insert({a.shape, a.colour});
  }
  // Every training pair does appear, and the scene mix follows the options (0.3 groups, 0.15
  // pairs, minus groups that fall back to single objects when their count is held out).
  EXPECT_EQ(seen_pairs.size(), 80u - HeldOutShapeColours().size());
  EXPECT_NEAR(pairs / 10000.0, 0.15, 0.02);
  EXPECT_GT(groups / 10000.0, 0.24);
  EXPECT_LT(groups / 10000.0, 0.31);
}

TEST(SyntheticWorldTest, HeldOutSplitAlwaysShowsAHeldOutPair) {
  WorldOptions o;
  o.split = WorldSplit::kHeldOut;
  for (uint64_t index = 0; index < 2000; ++index) {
    const Attributes a = Generate(17, index, o).attributes;
    ASSERT_TRUE(IsHeldOutShapeColour(a.shape, a.colour)) << "index " << index;
  }
}

// ---------------------------------------------------------------------------------------------
// Captions

TEST(SyntheticWorldTest, EveryCaptionIsTrueOfItsScene) {
  int singles = 0, groups = 0, pairs = 0;
  for (uint64_t index = 0; index < 600; ++index) {
    const WorldSample s = Generate(23, index);
    SCOPED_TRACE("index " + std::to_string(index));
    ASSERT_GE(s.captions.size(), 10u);
    ASSERT_GE(s.caption_index, 0);
    ASSERT_LT(s.caption_index, static_cast<int>(s.captions.size()));
    for (const Caption& caption : s.captions) ExpectCaptionTrue(caption, s.attributes);
    // The first caption is the complete one.
    EXPECT_TRUE(s.captions[0].mentions & kMentionsShape);
    EXPECT_TRUE(s.captions[0].mentions & kMentionsColour);
    EXPECT_TRUE(s.captions[0].mentions & kMentionsSize);
    if (s.attributes.has_second) {
      ++pairs;
    } else if (s.attributes.count >= 2) {
      ++groups;
    } else {
      ++singles;
      EXPECT_TRUE(s.captions[0].mentions & kMentionsPosition);
    }
  }
  EXPECT_GT(singles, 0);
  EXPECT_GT(groups, 0);
  EXPECT_GT(pairs, 0);
}

TEST(SyntheticWorldTest, CaptionsIncludeShapeOnlyAndColourOnlyPhrasings) {
  Attributes a;
  a.shape = 4;   // star
  a.colour = 1;  // orange
  a.size = 2;
  a.position = 0;
  std::set<std::string> texts;
  for (const Caption& c : MakeCaptions(a)) texts.insert(c.text);
  EXPECT_EQ(texts.count("a large orange star in the top left."), 1u);
  EXPECT_EQ(texts.count("a photo of an orange star."), 1u);
  EXPECT_EQ(texts.count("a star."), 1u);
  EXPECT_EQ(texts.count("something orange."), 1u);
  EXPECT_EQ(texts.count("something in the top left."), 1u);
  a.count = 2;
  a.position = -1;
  texts.clear();
  for (const Caption& c : MakeCaptions(a)) texts.insert(c.text);
  EXPECT_EQ(texts.count("two large orange stars."), 1u);
  EXPECT_EQ(texts.count("two in total."), 1u);
}

TEST(SyntheticWorldTest, TrainingCaptionMixFollowsTheWeights) {
  int by_focus[kNumCaptionFocuses] = {0, 0, 0, 0};
  const int n = 4000;
  for (uint64_t index = 0; index < n; ++index) {
    const WorldSample s = Generate(29, index);
    ++by_focus[static_cast<int>(FocusOf(s.captions[s.caption_index].mentions))];
  }
  EXPECT_NEAR(by_focus[0] / static_cast<double>(n), 0.4, 0.03);
  EXPECT_NEAR(by_focus[1] / static_cast<double>(n), 0.3, 0.03);
  EXPECT_NEAR(by_focus[2] / static_cast<double>(n), 0.1, 0.03);
  EXPECT_NEAR(by_focus[3] / static_cast<double>(n), 0.2, 0.03);
}

// ---------------------------------------------------------------------------------------------
// Rendering

TEST(SyntheticWorldTest, ObjectsShowTheirColourWherePlaced) {
  for (uint64_t index = 0; index < 300; ++index) {
    const WorldSample s = Generate(31, index);
    const Attributes& a = s.attributes;
    SCOPED_TRACE("index " + std::to_string(index) + ": " + s.captions[0].text);
    ASSERT_EQ(static_cast<int>(s.objects.size()), a.ObjectCount());
    for (size_t i = 0; i < s.objects.size(); ++i) {
      const PlacedObject& o = s.objects[i];
      const bool second = a.has_second && i == s.objects.size() - 1;
      EXPECT_EQ(static_cast<int>(o.geometry.kind), second ? a.second_shape : a.shape);
      // The drawn colour is the named one, jittered by at most 12 + 4 per channel.
      const Rgb named = ColourRgb(second ? a.second_colour : a.colour);
      EXPECT_LE(std::abs(o.colour.r - named.r), 16);
      EXPECT_LE(std::abs(o.colour.g - named.g), 16);
      EXPECT_LE(std::abs(o.colour.b - named.b), 16);
      float x, y;
      InteriorPoint(o, &x, &y);
      const Rgb p = PixelAt(s.image, x, y);
      EXPECT_EQ(p.r, o.colour.r);
      EXPECT_EQ(p.g, o.colour.g);
      EXPECT_EQ(p.b, o.colour.b);
    }
    if (a.count == 1 && !a.has_second) {
      EXPECT_EQ(PositionRegion(s.objects[0].geometry.center_x, s.objects[0].geometry.center_y, 64),
                a.position);
    }
    if (a.has_second) {
      const ShapeGeometry& p = s.objects[0].geometry;
      const ShapeGeometry& q = s.objects[1].geometry;
      switch (a.relation) {
        case Relation::kLeftOf: EXPECT_LT(p.center_x, q.center_x); break;
        case Relation::kRightOf: EXPECT_GT(p.center_x, q.center_x); break;
        case Relation::kAbove: EXPECT_LT(p.center_y, q.center_y); break;
        case Relation::kBelow: EXPECT_GT(p.center_y, q.center_y); break;
        case Relation::kNone: ADD_FAILURE() << "pair without relation";
      }
    }
  }
}

TEST(SyntheticWorldTest, PlainBackgroundsShowOneComponentPerObject) {
  WorldOptions o;
  o.background_level = 0;
  o.group_probability = 0.6f;
  o.pair_probability = 0.2f;
  for (uint64_t index = 0; index < 400; ++index) {
    const WorldSample s = Generate(37, index, o);
    ASSERT_TRUE(s.attributes.background == BackgroundKind::kPlainLight ||
                s.attributes.background == BackgroundKind::kPlainDark);
    EXPECT_EQ(CountComponents(ForegroundMask(s.image, 40)), s.attributes.ObjectCount())
        << "index " << index << ": " << s.captions[0].text;
  }
}

TEST(SyntheticWorldTest, BackgroundCurriculumLimitsTheKinds) {
  for (int level = 0; level <= 2; ++level) {
    WorldOptions o;
    o.background_level = level;
    std::set<int> kinds;
    for (uint64_t index = 0; index < 300; ++index) {
      kinds.insert(static_cast<int>(Generate(41, index, o).attributes.background));
    }
    EXPECT_EQ(kinds.size(), static_cast<size_t>(2 + 2 * level));
    EXPECT_EQ(*kinds.rbegin(), 1 + 2 * level);
  }
}

// ---------------------------------------------------------------------------------------------
// Hard-negative batches

TEST(SyntheticWorldTest, BatchModesFollowTheFractions) {
  WorldOptions o;
  int colour_fixed = 0, shape_fixed = 0;
  const int n = 4000;
  for (uint64_t b = 0; b < n; ++b) {
    const HardNegativeMode mode = BatchMode(5, b, o);
    colour_fixed += mode == HardNegativeMode::kColourFixed;
    shape_fixed += mode == HardNegativeMode::kShapeFixed;
  }
  EXPECT_NEAR((colour_fixed + shape_fixed) / static_cast<double>(n), 0.25, 0.025);
  EXPECT_NEAR(colour_fixed / static_cast<double>(colour_fixed + shape_fixed), 0.75, 0.05);
  o.hard_negative_fraction = 0;
  for (uint64_t b = 0; b < 200; ++b) EXPECT_EQ(BatchMode(5, b, o), HardNegativeMode::kNone);
}

TEST(SyntheticWorldTest, OrdinaryBatchesAreConsecutiveSamples) {
  WorldOptions o;
  o.hard_negative_fraction = 0;
  const std::vector<WorldSample> batch = GenerateBatch(8, 3, 5, o);
  ASSERT_EQ(batch.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(SampleHash(batch[i]), SampleHash(Generate(8, 15 + i, o)));
}

TEST(SyntheticWorldTest, HardNegativeBatchesHoldTheAttributeFixed) {
  WorldOptions o;
  o.hard_negative_fraction = 1.0f;
  o.colour_fixed_share = 0.5f;
  int checked[3] = {0, 0, 0};
  for (uint64_t b = 0; b < 12; ++b) {
    const HardNegativeMode mode = BatchMode(13, b, o);
    ++checked[static_cast<int>(mode)];
    const std::vector<WorldSample> batch = GenerateBatch(13, b, 64, o);
    ASSERT_EQ(batch.size(), 64u);
    std::set<int> shapes, colours;
    for (const WorldSample& s : batch) {
      const Attributes& a = s.attributes;
      EXPECT_FALSE(IsHeldOut(a));
      EXPECT_FALSE(a.has_second);
      shapes.insert(a.shape);
      colours.insert(a.colour);
      const uint32_t mentions = s.captions[s.caption_index].mentions;
      if (mode == HardNegativeMode::kColourFixed) {
        EXPECT_TRUE(mentions & kMentionsShape) << s.caption();
      } else {
        EXPECT_TRUE(mentions & kMentionsColour) << s.caption();
      }
    }
    if (mode == HardNegativeMode::kColourFixed) {
      EXPECT_EQ(colours.size(), 1u);
      EXPECT_GE(shapes.size(), 5u);  // each colour is allowed with 6 or 7 shapes
    } else {
      EXPECT_EQ(shapes.size(), 1u);
      EXPECT_EQ(colours.size(), 8u);  // each shape is allowed with 8 colours
    }
  }
  EXPECT_EQ(checked[0], 0);
  EXPECT_GT(checked[1], 0);
  EXPECT_GT(checked[2], 0);
}

TEST(SyntheticWorldTest, PositionBatchesVaryOnlyThePosition) {
  WorldOptions o;
  o.position_batch_fraction = 0.3f;
  int position_batches = 0;
  const int n = 2000;
  for (uint64_t b = 0; b < n; ++b) {
    const HardNegativeMode with = BatchMode(9, b, o);
    position_batches += with == HardNegativeMode::kPositionVaries;
    WorldOptions without = o;
    without.position_batch_fraction = 0;
    // Adding position batches only turns ordinary batches into position batches.
    if (with != HardNegativeMode::kPositionVaries) {
      EXPECT_EQ(with, BatchMode(9, b, without));
    }
  }
  EXPECT_NEAR(position_batches / static_cast<double>(n), 0.3, 0.03);
  int checked = 0;
  for (uint64_t b = 0; b < 40 && checked < 3; ++b) {
    if (BatchMode(9, b, o) != HardNegativeMode::kPositionVaries) continue;
    ++checked;
    const std::vector<WorldSample> batch = GenerateBatch(9, b, 64, o);
    std::set<int> positions;
    for (const WorldSample& s : batch) {
      const Attributes& a = s.attributes;
      EXPECT_EQ(a.count, 1);
      EXPECT_FALSE(a.has_second);
      EXPECT_FALSE(IsHeldOut(a));
      EXPECT_EQ(a.shape, batch[0].attributes.shape);
      EXPECT_EQ(a.colour, batch[0].attributes.colour);
      EXPECT_EQ(a.size, batch[0].attributes.size);
      EXPECT_TRUE(s.captions[s.caption_index].mentions & kMentionsPosition) << s.caption();
      positions.insert(a.position);
    }
    EXPECT_EQ(positions.size(), static_cast<size_t>(kNumPositions));
  }
  EXPECT_EQ(checked, 3);
  o.position_batch_fraction = 0.9f;  // above 1 - hard_negative_fraction
  EXPECT_NE(ValidateWorldOptions(o).message().find("position_batch_fraction"), std::string::npos);
}

TEST(SyntheticWorldTest, ShapeOnlyCaptionsCanBeKeptToColourFixedBatches) {
  WorldOptions o;
  o.hard_negative_fraction = 0.5f;
  o.colour_fixed_share = 0.5f;
  o.shape_only_captions_need_fixed_colour = true;
  int shape_only[3] = {0, 0, 0};  // by HardNegativeMode
  for (uint64_t b = 0; b < 24; ++b) {
    const HardNegativeMode mode = BatchMode(21, b, o);
    for (const WorldSample& s : GenerateBatch(21, b, 32, o)) {
      const uint32_t mentions = s.captions[s.caption_index].mentions;
      shape_only[static_cast<int>(mode)] += FocusOf(mentions) == CaptionFocus::kShapeOnly;
    }
  }
  EXPECT_EQ(shape_only[static_cast<int>(HardNegativeMode::kNone)], 0);
  EXPECT_EQ(shape_only[static_cast<int>(HardNegativeMode::kShapeFixed)], 0);
  EXPECT_GT(shape_only[static_cast<int>(HardNegativeMode::kColourFixed)], 0);
  o.shape_only_captions_need_fixed_colour = false;
  int anywhere = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    const WorldSample s = Generate(21, i, o);
    anywhere += FocusOf(s.captions[s.caption_index].mentions) == CaptionFocus::kShapeOnly;
  }
  EXPECT_GT(anywhere, 0);
}

// ---------------------------------------------------------------------------------------------
// Probes

TEST(WorldProbesTest, TasksHaveLabelsAndTemplates) {
  const std::vector<ProbeTask> tasks = ProbeTasks();
  ASSERT_EQ(tasks.size(), 5u);
  const std::vector<std::string> names = {"colour", "shape", "position", "count", "size"};
  const std::vector<size_t> k = {10, 8, 9, 4, 3};
  for (size_t t = 0; t < tasks.size(); ++t) {
    EXPECT_EQ(tasks[t].name, names[t]);
    EXPECT_EQ(static_cast<size_t>(tasks[t].kind), t);
    EXPECT_EQ(tasks[t].label_texts.size(), k[t]);
    EXPECT_GE(tasks[t].templates.size(), 2u);
    for (const std::string& templ : tasks[t].templates) {
      EXPECT_NE(templ.find("{}"), std::string::npos) << templ;
    }
  }
  EXPECT_EQ(FillTemplate("a photo of a {}.", "circle"), "a photo of a circle.");
  EXPECT_EQ(FillTemplate("no slot", "circle"), "no slot");
}

// Every prompt a probe uses is a caption pretraining produces for a scene with that label.
TEST(WorldProbesTest, PromptsAreCaptionsOfMatchingScenes) {
  for (const ProbeTask& task : ProbeTasks()) {
    for (size_t label = 0; label < task.label_texts.size(); ++label) {
      Attributes a;
      a.shape = 1;
      a.colour = 5;
      a.position = 4;
      const int l = static_cast<int>(label);
      if (task.kind == ProbeKind::kColour) a.colour = l;
      if (task.kind == ProbeKind::kShape) a.shape = l;
      if (task.kind == ProbeKind::kPosition) a.position = l;
      if (task.kind == ProbeKind::kSize) a.size = l;
      if (task.kind == ProbeKind::kCount && l > 0) {
        a.count = l + 1;
        a.position = -1;
      }
      std::set<std::string> captions;
      for (const Caption& c : MakeCaptions(a)) captions.insert(c.text);
      for (const std::string& templ : task.templates) {
        const std::string prompt = FillTemplate(templ, task.label_texts[label]);
        EXPECT_EQ(captions.count(prompt), 1u) << task.name << ": " << prompt;
      }
    }
  }
}

TEST(WorldProbesTest, ProbeSamplesShowOnlyHeldOutCombinations) {
  for (const ProbeTask& task : ProbeTasks()) {
    SCOPED_TRACE(task.name);
    const int k = static_cast<int>(task.label_texts.size());
    std::vector<int> per_label(k, 0);
    for (uint64_t index = 0; index < 200; ++index) {
      const LabeledProbeSample s = GenerateProbeSample(task, 3, index);
      const Attributes& a = s.attributes;
      ASSERT_EQ(s.label, static_cast<int>(index % k));
      ++per_label[s.label];
      EXPECT_TRUE(IsHeldOutShapeColour(a.shape, a.colour));
      EXPECT_FALSE(a.has_second);
      EXPECT_EQ(s.image.height, 64);
      switch (task.kind) {
        case ProbeKind::kColour:
          EXPECT_EQ(a.colour, s.label);
          EXPECT_EQ(a.count, 1);
          break;
        case ProbeKind::kShape:
          EXPECT_EQ(a.shape, s.label);
          EXPECT_EQ(a.count, 1);
          break;
        case ProbeKind::kPosition:
          EXPECT_EQ(a.position, s.label);
          EXPECT_EQ(a.count, 1);
          break;
        case ProbeKind::kSize:
          EXPECT_EQ(a.size, s.label);
          EXPECT_EQ(a.count, 1);
          break;
        case ProbeKind::kCount:
          EXPECT_EQ(a.count, s.label + 1);
          if (a.count >= 2) {
            EXPECT_TRUE(IsHeldOutShapeCount(a.shape, a.count));
          }
          break;
      }
    }
    for (int label = 0; label < k; ++label) EXPECT_GE(per_label[label], 200 / k);
  }
}

TEST(WorldProbesTest, SeenCombinationProbesShowOnlyTrainingCombinations) {
  for (const ProbeTask& task : ProbeTasks()) {
    SCOPED_TRACE(task.name);
    const int k = static_cast<int>(task.label_texts.size());
    for (uint64_t index = 0; index < 100; ++index) {
      const LabeledProbeSample s =
          GenerateProbeSample(task, 3, index, WorldOptions(), ProbeCombinations::kSeen);
      const Attributes& a = s.attributes;
      ASSERT_EQ(s.label, static_cast<int>(index % k));
      EXPECT_FALSE(IsHeldOutShapeColour(a.shape, a.colour));
      if (task.kind == ProbeKind::kShape) {
        EXPECT_EQ(a.shape, s.label);
      }
      if (task.kind == ProbeKind::kColour) {
        EXPECT_EQ(a.colour, s.label);
      }
      if (task.kind == ProbeKind::kCount && a.count >= 2) {
        EXPECT_FALSE(IsHeldOutShapeCount(a.shape, a.count));
      }
    }
  }
}

TEST(WorldProbesTest, ProbeSamplesAreDeterministicAndSeeded) {
  const ProbeTask task = ProbeTasks()[0];
  EXPECT_EQ(GenerateProbeSample(task, 1, 7).image.pixels,
            GenerateProbeSample(task, 1, 7).image.pixels);
  EXPECT_NE(GenerateProbeSample(task, 1, 7).image.pixels,
            GenerateProbeSample(task, 2, 7).image.pixels);
  // A probe world never replays the training world of the same seed.
  EXPECT_NE(GenerateProbeSample(task, 1, 7).image.pixels, Generate(1, 7).image.pixels);
}

}  // namespace
}  // namespace perennial

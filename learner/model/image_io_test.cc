#include "learner/model/image_io.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "learner/model/npy_test_util.h"

namespace perennial {
namespace {

using test_util::NpyToImage;
using test_util::ReadFileBytes;
using test_util::ReadNpy;

const std::string kDir = "tests/fixtures/images/";

struct Fixture {
  const char* file;
  const char* stem;
};

// Every decodable fixture written by tests/fixtures/make_image_fixtures.py.
const Fixture kFixtures[] = {
    {"photo_97x61.png", "photo_97x61"},
    {"photo_80x120.jpg", "photo_80x120"},
    {"gray_45x70.png", "gray_45x70"},
    {"gray_33x47.jpg", "gray_33x47"},
    {"rgba_64x50.png", "rgba_64x50"},
    {"palette_40x33.png", "palette_40x33"},
    {"fashion_28x28.png", "fashion_28x28"},
    {"rgb16_30x20.png", "rgb16_30x20"},
    {"la_interlaced_37x29.png", "la_interlaced_37x29"},
};

bool IsJpeg(const std::string& file) {
  return file.size() > 4 && file.substr(file.size() - 4) == ".jpg";
}

int MaxAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int max_diff = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(int{a[i]} - int{b[i]}));
  }
  return max_diff;
}

TEST(DecodeImageTest, MatchesPillowOnEveryFixture) {
  for (const Fixture& f : kFixtures) {
    SCOPED_TRACE(f.file);
    const auto decoded = ReadImageFile(kDir + f.file);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    const Image expected = NpyToImage(ReadNpy(kDir + std::string(f.stem) + ".decoded.npy"));
    ASSERT_EQ(decoded->height, expected.height);
    ASSERT_EQ(decoded->width, expected.width);
    ASSERT_EQ(decoded->channels, expected.channels);
    const int max_diff = MaxAbsDiff(decoded->pixels, expected.pixels);
    std::printf("decode %-24s %dx%dx%d  max |ours - Pillow| = %d\n", f.file, expected.height,
                expected.width, expected.channels, max_diff);
    if (IsJpeg(f.file)) {
      EXPECT_LE(max_diff, 1);  // same libjpeg-turbo here; other builds may round differently
    } else {
      EXPECT_EQ(max_diff, 0);
    }
  }
}

// Each draft side has a Pillow reference where Image.draft reduced the fixture (see
// DRAFT_SIDES in make_image_fixtures.py); 17x24 checks that odd sides round up.
TEST(DecodeImageTest, DraftDecodingMatchesPillowsDraft) {
  const struct {
    const char* file;
    int min_side;
    const char* reference;  // empty: the side reduces nothing, so the full decode
    int height, width;
  } kCases[] = {
      {"photo_80x120.jpg", 40, "photo_80x120.draft_40.npy", 60, 40},
      {"photo_80x120.jpg", 20, "photo_80x120.draft_20.npy", 30, 20},
      {"photo_80x120.jpg", 16, "photo_80x120.draft_16.npy", 30, 20},
      {"photo_80x120.jpg", 10, "photo_80x120.draft_10.npy", 15, 10},
      {"photo_80x120.jpg", 8, "photo_80x120.draft_8.npy", 15, 10},
      {"photo_80x120.jpg", 41, "photo_80x120.decoded.npy", 120, 80},
      {"gray_33x47.jpg", 16, "gray_33x47.draft_16.npy", 24, 17},
      {"gray_33x47.jpg", 10, "gray_33x47.draft_10.npy", 24, 17},
      {"gray_33x47.jpg", 8, "gray_33x47.draft_8.npy", 12, 9},
      {"gray_33x47.jpg", 20, "gray_33x47.decoded.npy", 47, 33},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(std::string(c.file) + " draft_min_side " + std::to_string(c.min_side));
    DecodeOptions options;
    options.draft_min_side = c.min_side;
    const auto decoded = ReadImageFile(kDir + c.file, options);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    const Image expected = NpyToImage(ReadNpy(kDir + c.reference));
    ASSERT_EQ(expected.height, c.height);
    ASSERT_EQ(expected.width, c.width);
    ASSERT_EQ(decoded->height, c.height);
    ASSERT_EQ(decoded->width, c.width);
    ASSERT_EQ(decoded->channels, expected.channels);
    // Bit-exact against Debian 12's Pillow; other libjpeg-turbo builds may round differently.
    EXPECT_LE(MaxAbsDiff(decoded->pixels, expected.pixels), 1);
  }
}

TEST(DecodeImageTest, DraftDecodingLeavesPngsAtFullSize) {
  DecodeOptions options;
  options.draft_min_side = 8;
  const auto decoded = ReadImageFile(kDir + "photo_97x61.png", options);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->width, 97);
  EXPECT_EQ(decoded->height, 61);
}

TEST(DecodeImageTest, RecognisesChannelLayouts) {
  EXPECT_EQ(ReadImageFile(kDir + "gray_33x47.jpg")->channels, 1);
  EXPECT_EQ(ReadImageFile(kDir + "la_interlaced_37x29.png")->channels, 2);
  EXPECT_EQ(ReadImageFile(kDir + "palette_40x33.png")->channels, 3);
  EXPECT_EQ(ReadImageFile(kDir + "rgba_64x50.png")->channels, 4);
  const auto photo = ReadImageFile(kDir + "photo_97x61.png");
  ASSERT_TRUE(photo.ok());
  EXPECT_EQ(photo->width, 97);
  EXPECT_EQ(photo->height, 61);
}

void ExpectEveryTruncationFails(const std::string& file, size_t intact_tail) {
  const std::vector<uint8_t> bytes = ReadFileBytes(kDir + file);
  ASSERT_GT(bytes.size(), intact_tail);
  int tried = 0;
  for (size_t cut = 0; cut + intact_tail < bytes.size(); cut += 3, ++tried) {
    const auto result = DecodeImage(bytes.data(), cut);
    ASSERT_FALSE(result.ok()) << file << " cut to " << cut << " of " << bytes.size();
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << result.status().ToString();
  }
  EXPECT_GT(tried, 100);
  std::printf("%s: %d truncations rejected, e.g. \"%s\"\n", file.c_str(), tried,
              std::string(DecodeImage(bytes.data(), bytes.size() / 2).status().message()).c_str());
}

TEST(DecodeImageTest, TruncatedPngIsInvalidArgument) {
  // The trailing IEND chunk (12 bytes) is not needed for the pixels.
  ExpectEveryTruncationFails("photo_97x61.png", 12);
  ExpectEveryTruncationFails("la_interlaced_37x29.png", 12);
}

TEST(DecodeImageTest, TruncatedJpegIsInvalidArgument) {
  ExpectEveryTruncationFails("photo_80x120.jpg", 0);
  ExpectEveryTruncationFails("gray_33x47.jpg", 0);
}

TEST(DecodeImageTest, EmptyAndUnknownInputsAreInvalidArgument) {
  const uint8_t zeros[64] = {};
  EXPECT_EQ(DecodeImage(nullptr, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeImage(zeros, 0).status().code(), StatusCode::kInvalidArgument);
  const auto unknown = DecodeImage(zeros, sizeof(zeros));
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(unknown.status().message()).find("unknown image format"),
            std::string::npos);
  const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
  EXPECT_EQ(DecodeImage(gif, sizeof(gif)).status().code(), StatusCode::kInvalidArgument);
}

TEST(DecodeImageTest, RandomBytesNeverDecodeOrCrash) {
  std::mt19937 rng(7);
  const uint8_t png_magic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  for (int trial = 0; trial < 600; ++trial) {
    std::vector<uint8_t> bytes(rng() % 2048);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    // A third keep a PNG signature, a third a JPEG SOI, so the decoders themselves are hit.
    if (trial % 3 == 1 && bytes.size() >= 8) std::copy(png_magic, png_magic + 8, bytes.begin());
    if (trial % 3 == 2 && bytes.size() >= 3) {
      bytes[0] = 0xFF, bytes[1] = 0xD8, bytes[2] = 0xFF;
    }
    const auto result = DecodeImage(bytes.data(), bytes.size());
    EXPECT_FALSE(result.ok()) << "trial " << trial;
  }
}

TEST(DecodeImageTest, CorruptedBytesNeverCrash) {
  std::mt19937 rng(11);
  for (const char* file : {"photo_97x61.png", "photo_80x120.jpg", "la_interlaced_37x29.png"}) {
    const std::vector<uint8_t> original = ReadFileBytes(kDir + file);
    int rejected = 0;
    for (int trial = 0; trial < 150; ++trial) {
      std::vector<uint8_t> bytes = original;
      for (int k = 0; k < 4; ++k) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
      const auto result = DecodeImage(bytes.data(), bytes.size());
      if (!result.ok()) {
        ++rejected;
        EXPECT_NE(result.status().code(), StatusCode::kOk);
      } else {
        EXPECT_TRUE(ValidateImage(*result).ok());
      }
    }
    std::printf("%s: %d of 150 corrupted copies rejected, the rest decoded to valid images\n", file,
                rejected);
  }
}

TEST(DecodeImageTest, OversizedHeaderIsResourceExhaustedBeforeDecoding) {
  // 100000 x 100000 RGBA: 40 GB if it were allocated.
  const auto huge = ReadImageFile(kDir + "huge_header.png");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(huge.status().message()).find("100000x100000"), std::string::npos)
      << huge.status().ToString();
}

TEST(DecodeImageTest, MaxPixelsAppliesToPngAndJpeg) {
  DecodeOptions options;
  options.max_pixels = 97 * 61 - 1;
  EXPECT_EQ(ReadImageFile(kDir + "photo_97x61.png", options).status().code(),
            StatusCode::kResourceExhausted);
  options.max_pixels = 97 * 61;
  EXPECT_TRUE(ReadImageFile(kDir + "photo_97x61.png", options).ok());
  options.max_pixels = 80 * 120 - 1;
  EXPECT_EQ(ReadImageFile(kDir + "photo_80x120.jpg", options).status().code(),
            StatusCode::kResourceExhausted);
  DecodeOptions small_files;
  small_files.max_encoded_bytes = 100;
  EXPECT_EQ(ReadImageFile(kDir + "photo_80x120.jpg", small_files).status().code(),
            StatusCode::kResourceExhausted);
}

TEST(DecodeImageTest, CmykJpegIsRejected) {
  const auto cmyk = ReadImageFile(kDir + "cmyk_8x8.jpg");
  ASSERT_FALSE(cmyk.ok());
  EXPECT_EQ(cmyk.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(cmyk.status().message()).find("CMYK"), std::string::npos);
}

// A JPEG of a gradient with noise (so that every block has AC terms), encoded by TurboJPEG with
// the given chroma subsampling (or gray), optionally progressive.
std::vector<uint8_t> EncodeTestJpeg(int width, int height, int subsampling, bool progressive) {
  const bool gray = subsampling == TJSAMP_GRAY;
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * (gray ? 1 : 3));
  std::mt19937 rng(width * 131 + height);
  for (size_t i = 0; i < pixels.size(); ++i) {
    pixels[i] = static_cast<uint8_t>((i * 7 / (gray ? 1 : 3)) % 200 + rng() % 40);
  }
  tjhandle handle = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long jpeg_size = 0;
  const int failed =
      tjCompress2(handle, pixels.data(), width, 0, height, gray ? TJPF_GRAY : TJPF_RGB, &jpeg,
                  &jpeg_size, subsampling, 90, progressive ? TJFLAG_PROGRESSIVE : 0);
  std::vector<uint8_t> bytes;
  if (!failed) bytes.assign(jpeg, jpeg + jpeg_size);
  tjFree(jpeg);
  tjDestroy(handle);
  return bytes;
}

// The status code VerifyImage gives and the one DecodeImage gives, for one input.
void ExpectVerifyAgrees(const std::vector<uint8_t>& bytes, size_t size, const std::string& what,
                        int* rejected) {
  const StatusCode verified = VerifyImage(bytes.data(), size).code();
  const StatusCode decoded = DecodeImage(bytes.data(), size).status().code();
  EXPECT_EQ(verified, decoded) << what;
  *rejected += decoded != StatusCode::kOk;
}

TEST(VerifyImageTest, AcceptsWhatDecodesAndRejectsWhatDoesNot) {
  for (const Fixture& f : kFixtures) {
    const std::vector<uint8_t> bytes = ReadFileBytes(kDir + f.file);
    EXPECT_TRUE(VerifyImage(bytes.data(), bytes.size()).ok()) << f.file;
  }
  for (const char* file : {"cmyk_8x8.jpg", "huge_header.png"}) {
    const std::vector<uint8_t> bytes = ReadFileBytes(kDir + file);
    const Status verified = VerifyImage(bytes.data(), bytes.size());
    EXPECT_EQ(verified, DecodeImage(bytes.data(), bytes.size()).status()) << file;
    EXPECT_FALSE(verified.ok()) << file;
  }
  const std::vector<uint8_t> photo = ReadFileBytes(kDir + "photo_80x120.jpg");
  DecodeOptions options;
  options.max_pixels = 80 * 120 - 1;
  EXPECT_EQ(VerifyImage(photo.data(), photo.size(), options).code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(VerifyImage(nullptr, 0).code(), StatusCode::kInvalidArgument);
}

// Truncated and corrupted JPEGs in every layout the encoder writes: the 1/8-scale check must
// reject exactly those the full decode rejects.
TEST(VerifyImageTest, AgreesWithDecodeOnDamagedJpegs) {
  std::mt19937 rng(5);
  int cases = 0, rejected = 0;
  for (int subsampling :
       {TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_GRAY, TJSAMP_440, TJSAMP_411}) {
    for (bool progressive : {false, true}) {
      const std::vector<uint8_t> jpeg = EncodeTestJpeg(67, 53, subsampling, progressive);
      ASSERT_FALSE(jpeg.empty());
      const std::string what = "subsampling " + std::to_string(subsampling) +
                               (progressive ? " progressive" : " baseline");
      for (size_t cut = 0; cut <= jpeg.size(); cut += 5, ++cases) {
        ExpectVerifyAgrees(jpeg, cut, what + " cut to " + std::to_string(cut), &rejected);
      }
      for (int trial = 0; trial < 60; ++trial, ++cases) {
        std::vector<uint8_t> bytes = jpeg;
        for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
        ExpectVerifyAgrees(bytes, bytes.size(), what + " corrupted #" + std::to_string(trial),
                           &rejected);
      }
    }
  }
  std::printf("VerifyImage agreed with DecodeImage on %d damaged JPEGs (%d rejected)\n", cases,
              rejected);
  EXPECT_GT(rejected, cases / 2);  // the damage is real: most copies must be refused
  EXPECT_LT(rejected, cases);      // and the comparison sees accepted ones too (intact cuts)
}

// Every layout the encoder writes decodes reduced, to the size Pillow's rule gives. A progressive
// file holds the same coefficients as its baseline twin, so both decode to the same pixels; a
// truncated one is refused reduced as in full.
TEST(DecodeImageTest, DraftDecodingHandlesEveryLayout) {
  DecodeOptions draft;
  draft.draft_min_side = 16;  // 67x53: 53 / 16 = 3, so 1/2: 34x27
  for (int subsampling :
       {TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_GRAY, TJSAMP_440, TJSAMP_411}) {
    SCOPED_TRACE("subsampling " + std::to_string(subsampling));
    const std::vector<uint8_t> baseline = EncodeTestJpeg(67, 53, subsampling, false);
    const std::vector<uint8_t> progressive = EncodeTestJpeg(67, 53, subsampling, true);
    const auto reduced = DecodeImage(baseline.data(), baseline.size(), draft);
    const auto reduced_progressive = DecodeImage(progressive.data(), progressive.size(), draft);
    ASSERT_TRUE(reduced.ok()) << reduced.status().ToString();
    ASSERT_TRUE(reduced_progressive.ok()) << reduced_progressive.status().ToString();
    EXPECT_EQ(reduced->width, 34);
    EXPECT_EQ(reduced->height, 27);
    EXPECT_EQ(reduced->channels, subsampling == TJSAMP_GRAY ? 1 : 3);
    EXPECT_EQ(reduced->pixels, reduced_progressive->pixels);
    EXPECT_EQ(DecodeImage(baseline.data(), baseline.size() / 2, draft).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(DecodeImage(progressive.data(), progressive.size() / 2, draft).status().code(),
              StatusCode::kInvalidArgument);
  }
}

TEST(ReadImageFileTest, MissingFileIsNotFound) {
  const auto missing = ReadImageFile(kDir + "no_such_image.png");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(ImageFromRawTest, ValidatesShapeAndLimits) {
  const std::vector<uint8_t> data(2 * 3 * 4, 7);
  const auto ok = ImageFromRaw(data.data(), data.size(), 2, 3, 4);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->pixels, data);
  const auto mismatch = ImageFromRaw(data.data(), data.size() - 1, 2, 3, 4);
  EXPECT_EQ(mismatch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(mismatch.status().message()).find("needs 24"), std::string::npos)
      << mismatch.status().ToString();
  EXPECT_EQ(ImageFromRaw(data.data(), data.size(), 2, 3, 5).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ImageFromRaw(data.data(), data.size(), 0, 3, 4).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ImageFromRaw(data.data(), data.size(), 2, 3, 4, /*max_pixels=*/5).status().code(),
            StatusCode::kResourceExhausted);
  // An absurd claimed size fails on the limit, without overflow and without allocating.
  EXPECT_EQ(ImageFromRaw(data.data(), data.size(), 1 << 30, 1 << 30, 4).status().code(),
            StatusCode::kResourceExhausted);
}

TEST(WritePngTest, RoundTripsEveryChannelCount) {
  for (int channels = 1; channels <= 4; ++channels) {
    Image image{5, 7, channels, {}};
    image.pixels.resize(5 * 7 * channels);
    for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 37);
    const std::string path =
        ::testing::TempDir() + "perennial_write_png_" + std::to_string(channels) + ".png";
    ASSERT_TRUE(WritePng(path, image).ok());
    const auto back = ReadImageFile(path);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->channels, channels);
    EXPECT_EQ(back->pixels, image.pixels);
    std::remove(path.c_str());
  }
  EXPECT_EQ(WritePng(::testing::TempDir() + "x.png", Image{}).code(), StatusCode::kInvalidArgument);
  Image one{1, 1, 3, {1, 2, 3}};
  EXPECT_FALSE(WritePng("/nonexistent-dir/x.png", one).ok());
}

}  // namespace
}  // namespace perennial

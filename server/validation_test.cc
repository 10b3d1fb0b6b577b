#include "server/validation.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "server/status_convert.h"

namespace perennial {
namespace {

v1::Image Raw(uint32_t h, uint32_t w, uint32_t c, size_t bytes) {
  v1::Image image;
  image.mutable_raw()->set_height(h);
  image.mutable_raw()->set_width(w);
  image.mutable_raw()->set_channels(c);
  image.mutable_raw()->set_pixels(std::string(bytes, '\x7f'));
  return image;
}

TEST(ValidationTest, RawImages) {
  ServerLimits limits;
  EXPECT_TRUE(DecodeRequestImage(Raw(2, 3, 3, 18), limits, "image", 0).ok());
  absl::Status wrong =
      DecodeRequestImage(Raw(28, 28, 3, 784), limits, "samples[3].image", 0).status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wrong.message(), "samples[3].image.raw: 784 pixel bytes, want 28*28*3 = 2352");
  EXPECT_EQ(DecodeRequestImage(Raw(5000, 1, 1, 5000), limits, "i", 0).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(DecodeRequestImage(Raw(0, 1, 1, 0), limits, "i", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeRequestImage(Raw(1, 1, 2, 2), limits, "i", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeRequestImage(v1::Image(), limits, "i", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, EncodedImages) {
  ServerLimits limits;
  v1::Image empty;
  empty.set_encoded("");
  EXPECT_EQ(DecodeRequestImage(empty, limits, "i", 0).status().message(),
            "i.encoded: empty (0 bytes), want a PNG or JPEG file");
  v1::Image corrupt;
  corrupt.set_encoded(std::string("\x89PNG\r\n\x1a\n", 8) + "garbage");
  EXPECT_EQ(DecodeRequestImage(corrupt, limits, "i", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  limits.max_encoded_image_bytes = 4;
  EXPECT_EQ(DecodeRequestImage(corrupt, limits, "i", 0).status().code(),
            absl::StatusCode::kResourceExhausted);
}

v1::Image EncodedFile(const std::string& path, size_t keep_bytes = std::string::npos) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(bytes.empty()) << path;
  v1::Image image;
  image.set_encoded(bytes.substr(0, keep_bytes));
  return image;
}

// Ingest verifies instead of decoding; it must accept and refuse exactly what a decode does,
// with the same message.
TEST(ValidationTest, VerifyAgreesWithDecode) {
  ServerLimits limits;
  const std::string photo = "tests/fixtures/images/photo_80x120.jpg";
  std::vector<v1::Image> images = {EncodedFile(photo),
                                   EncodedFile(photo, 2000),
                                   EncodedFile("tests/fixtures/images/cmyk_8x8.jpg"),
                                   EncodedFile("tests/fixtures/images/fashion_28x28.png", 100),
                                   Raw(2, 3, 3, 18),
                                   Raw(28, 28, 3, 784),
                                   v1::Image()};
  for (const v1::Image& image : images) {
    EXPECT_EQ(VerifyRequestImage(image, limits, "s.image"),
              DecodeRequestImage(image, limits, "s.image", 0).status());
  }
  EXPECT_TRUE(VerifyRequestImage(images[0], limits, "s.image").ok());
  const absl::Status truncated = VerifyRequestImage(images[1], limits, "s.image");
  EXPECT_EQ(truncated.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(truncated.message().rfind("s.image.encoded: corrupt or truncated JPEG", 0), 0u)
      << truncated;
  limits.max_pixels = 80 * 120 - 1;
  EXPECT_EQ(VerifyRequestImage(images[0], limits, "s.image").code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(ValidationTest, Labels) {
  ServerLimits limits;
  EXPECT_EQ(TrimLabel("  ankle boot \n"), "ankle boot");
  EXPECT_TRUE(ValidateLabel("ankle boot", limits, "label").ok());
  EXPECT_TRUE(ValidateLabel("caf\xc3\xa9", limits, "label").ok());
  EXPECT_FALSE(ValidateLabel("", limits, "label").ok());
  EXPECT_FALSE(ValidateLabel(std::string(257, 'a'), limits, "label").ok());
  EXPECT_FALSE(ValidateLabel("a\tb", limits, "label").ok());
  EXPECT_FALSE(ValidateLabel("\xc3", limits, "label").ok());
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x90\xb1"));
}

TEST(ValidationTest, Classify) {
  ServerLimits limits;
  v1::ClassifyRequest request;
  *request.mutable_image() = Raw(1, 1, 1, 1);
  EXPECT_EQ(ValidateClassify(request, limits).message(),
            "neither labels nor label_set is set; give exactly one");
  request.add_labels("cat");
  request.add_labels("dog");
  EXPECT_TRUE(ValidateClassify(request, limits).ok());
  request.add_templates("a photo");
  EXPECT_EQ(ValidateClassify(request, limits).message(),
            "templates[0]: 'a photo' has no {} where the label goes");
  request.clear_templates();
  request.add_labels("cat");
  EXPECT_EQ(ValidateClassify(request, limits).message(),
            "labels[2]: 'cat' is repeated; labels must be distinct");
  request.clear_labels();
  request.set_label_set("bad name!");
  EXPECT_EQ(ValidateClassify(request, limits).code(), absl::StatusCode::kInvalidArgument);
}

TEST(StatusConvertTest, CodesMapOneToOne) {
  for (int code = 0; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), code == 0 ? "" : "why");
    const grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
    EXPECT_EQ(FromGrpcStatus(converted), status);
  }
}

}  // namespace
}  // namespace perennial

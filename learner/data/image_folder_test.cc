#include "learner/data/image_folder.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "learner/data/test_files.h"
#include "learner/model/image_io.h"

namespace perennial {
namespace {

Image Solid(int height, int width, int channels, uint8_t value) {
  Image image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.pixels.assign(static_cast<size_t>(height) * width * channels, value);
  return image;
}

class ImageFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.File("cat"));
    std::filesystem::create_directories(dir_.File("dog/sub"));
    std::filesystem::create_directories(dir_.File("empty_class"));
    std::filesystem::create_directories(dir_.File(".git"));
    Write(dir_.File("cat/b.png"), Solid(4, 5, 3, 20));
    Write(dir_.File("cat/a.PNG"), Solid(2, 3, 1, 10));
    Write(dir_.File("dog/sub/c.png"), Solid(6, 2, 4, 30));
    Write(dir_.File("dog/.hidden.png"), Solid(1, 1, 1, 0));
    Write(dir_.File(".git/x.png"), Solid(1, 1, 1, 0));
    WriteText(dir_.File("dog/readme.txt"), "not an image");
    WriteText(dir_.File("top_level_file.png"), "not a class");
  }
  static void Write(const std::string& path, const Image& image) {
    const Status s = WritePng(path, image);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  TempDir dir_;
};

TEST_F(ImageFolderTest, ScanListsSortedClassesAndFiles) {
  auto index = ScanImageFolder(dir_.path());
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ(index->class_names, (std::vector<std::string>{"cat", "dog", "empty_class"}));
  EXPECT_EQ(index->paths, (std::vector<std::string>{dir_.File("cat/a.PNG"), dir_.File("cat/b.png"),
                                                    dir_.File("dog/sub/c.png")}));
  EXPECT_EQ(index->labels, (std::vector<int32_t>{0, 0, 1}));
  auto item = LoadImageFolderItem(*index, 2);
  ASSERT_TRUE(item.ok()) << item.status().message();
  EXPECT_EQ(item->label, 1);
  EXPECT_EQ(item->image.channels, 4);
  EXPECT_EQ(LoadImageFolderItem(*index, 3).status().code(), StatusCode::kOutOfRange);
}

TEST_F(ImageFolderTest, LoadDecodesEverything) {
  auto dataset = LoadImageFolder(dir_.path());
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  ASSERT_EQ(dataset->size(), 3);
  EXPECT_EQ(dataset->num_classes(), 3);
  const ImageView a = dataset->View(0);
  EXPECT_EQ(a.height, 2);
  EXPECT_EQ(a.width, 3);
  EXPECT_EQ(a.channels, 1);
  EXPECT_EQ(a.pixels[5], 10);
  const ImageView b = dataset->View(1);
  EXPECT_EQ(b.height, 4);
  EXPECT_EQ(b.width, 5);
  EXPECT_EQ(b.channels, 3);
  EXPECT_EQ(b.pixels[59], 20);
  const LabeledImage c = dataset->Get(2);
  EXPECT_EQ(c.image.height, 6);
  EXPECT_EQ(c.image.width, 2);
  EXPECT_EQ(c.image.pixels, std::vector<uint8_t>(48, 30));
  EXPECT_EQ(c.label, 1);
}

TEST_F(ImageFolderTest, ExtensionsOption) {
  ImageFolderOptions options;
  options.extensions = {".txt"};
  auto index = ScanImageFolder(dir_.path(), options);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->paths, std::vector<std::string>{dir_.File("dog/readme.txt")});
  // Decoding it fails and names the file.
  const Status s = LoadImageFolder(dir_.path(), options).status();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("readme.txt"), std::string::npos) << s.message();
}

TEST_F(ImageFolderTest, CorruptImageNamesTheFile) {
  WriteText(dir_.File("dog/broken.png"), "\x89PNG\r\n\x1a\n but then garbage");
  const Status s = LoadImageFolder(dir_.path()).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("broken.png"), std::string::npos) << s.message();
}

TEST_F(ImageFolderTest, DecodeLimitsApply) {
  ImageFolderOptions options;
  options.decode.max_pixels = 10;  // b.png has 20 pixels
  EXPECT_EQ(LoadImageFolder(dir_.path(), options).status().code(), StatusCode::kResourceExhausted);
}

TEST(ImageFolderErrorsTest, MissingOrEmptyRoot) {
  TempDir dir;
  EXPECT_EQ(ScanImageFolder(dir.File("nope")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ScanImageFolder(dir.path()).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace perennial

#include "storage/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace perennial {
namespace {

// Check values from RFC 3720 (iSCSI) appendix B.4 and the common "123456789" check.
TEST(Crc32cTest, KnownValues) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  const std::string data = "perennial checkpoints are framed with a CRC-32C";
  for (size_t split = 0; split <= data.size(); ++split) {
    EXPECT_EQ(Crc32cExtend(Crc32c(data.substr(0, split)), data.substr(split)), Crc32c(data));
  }
}

TEST(Crc32cTest, DetectsSingleBitFlip) {
  std::string data(1000, 'x');
  const uint32_t crc = Crc32c(data);
  data[517] ^= 0x10;
  EXPECT_NE(Crc32c(data), crc);
}

}  // namespace
}  // namespace perennial

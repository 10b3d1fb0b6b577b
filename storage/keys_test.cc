#include "storage/keys.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace perennial {
namespace {

TEST(KeysTest, Uint64IsBigEndian) {
  EXPECT_EQ(EncodeUint64(0x0102030405060708ull), std::string("\x01\x02\x03\x04\x05\x06\x07\x08"));
  EXPECT_EQ(EncodeUint64(0), std::string(8, '\0'));
  EXPECT_EQ(EncodeUint64(UINT64_MAX), std::string(8, '\xff'));
}

TEST(KeysTest, RoundTrip) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{256}, uint64_t{1} << 32,
                     UINT64_MAX - 1, UINT64_MAX}) {
    ASSERT_EQ(DecodeUint64(EncodeUint64(v)), v);
  }
}

TEST(KeysTest, BytewiseOrderIsNumericOrder) {
  std::vector<uint64_t> values = {300, 1, 255, 256, 65536, 2, UINT64_MAX, 0, 1ull << 40};
  std::vector<std::string> keys;
  for (uint64_t v : values) keys.push_back(EncodeUint64(v));
  std::sort(values.begin(), values.end());
  std::sort(keys.begin(), keys.end());  // std::string compares bytes as unsigned char.
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(*DecodeUint64(keys[i]), values[i]);
}

TEST(KeysTest, DecodeRejectsWrongLength) {
  EXPECT_FALSE(DecodeUint64("").has_value());
  EXPECT_FALSE(DecodeUint64("1234567").has_value());
  EXPECT_FALSE(DecodeUint64("123456789").has_value());
}

TEST(KeysTest, ListRoundTrip) {
  const std::vector<uint64_t> values = {3, 7, 1ull << 50};
  const std::string bytes = EncodeUint64List(values);
  EXPECT_EQ(bytes.size(), 24u);
  EXPECT_EQ(DecodeUint64List(bytes), values);
  EXPECT_EQ(DecodeUint64List(""), std::vector<uint64_t>());
  EXPECT_FALSE(DecodeUint64List(bytes.substr(0, 20)).has_value());
}

}  // namespace
}  // namespace perennial

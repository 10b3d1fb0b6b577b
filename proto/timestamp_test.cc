#include "proto/timestamp.h"

#include "gtest/gtest.h"

namespace perennial {
namespace {

TEST(TimestampTest, RoundTripsToTheNanosecond) {
  const absl::Time times[] = {absl::UnixEpoch(), absl::FromUnixNanos(1700000000123456789),
                              absl::FromUnixNanos(-1),  // 1969: seconds -1, nanos 999999999
                              absl::FromUnixNanos(-1500000000)};
  for (absl::Time time : times) {
    const google::protobuf::Timestamp proto = ToProtoTimestamp(time);
    EXPECT_GE(proto.nanos(), 0);
    EXPECT_LT(proto.nanos(), 1000000000);
    EXPECT_EQ(FromProtoTimestamp(proto), time) << absl::FormatTime(time);
  }
  const google::protobuf::Timestamp before_1970 = ToProtoTimestamp(absl::FromUnixNanos(-1));
  EXPECT_EQ(before_1970.seconds(), -1);
  EXPECT_EQ(before_1970.nanos(), 999999999);
  const google::protobuf::Timestamp later =
      ToProtoTimestamp(absl::FromUnixNanos(1700000000123456789));
  EXPECT_EQ(later.seconds(), 1700000000);
  EXPECT_EQ(later.nanos(), 123456789);
}

}  // namespace
}  // namespace perennial

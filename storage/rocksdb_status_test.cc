#include "storage/rocksdb_status.h"

#include "gtest/gtest.h"

namespace perennial {
namespace {

TEST(RocksDbStatusTest, MapsCodesAndKeepsContext) {
  EXPECT_TRUE(FromRocksDbStatus(rocksdb::Status::OK(), "x").ok());
  absl::Status s = FromRocksDbStatus(rocksdb::Status::Corruption("bad block"), "read sample 7");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("read sample 7"), absl::string_view::npos);
  EXPECT_NE(s.message().find("bad block"), absl::string_view::npos);
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::NotFound(), "x").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::NoSpace(), "x").code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::IOError("While lock file: /d/LOCK"), "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::IOError("disk"), "x").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::InvalidArgument("x"), "x").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace perennial

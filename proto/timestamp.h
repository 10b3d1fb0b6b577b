// File: proto/timestamp.h
//
// The one conversion between google.protobuf.Timestamp (stored samples' received_time, the API's
// times) and absl::Time. Exact to the nanosecond in both directions, also before 1970 (a
// Timestamp's nanos are always in [0, 1e9), counted forward from `seconds`).
#ifndef PERENNIAL_PROTO_TIMESTAMP_H_
#define PERENNIAL_PROTO_TIMESTAMP_H_

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace perennial {

absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& timestamp);

google::protobuf::Timestamp ToProtoTimestamp(absl::Time time);

}  // namespace perennial

#endif  // PERENNIAL_PROTO_TIMESTAMP_H_

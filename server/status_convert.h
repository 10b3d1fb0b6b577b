// File: server/status_convert.h
//
// The one place where absl::Status becomes grpc::Status. The canonical codes are the same in
// both (they come from google.rpc.Code), so the mapping is 1:1 and the message is kept as is.
#ifndef PERENNIAL_SERVER_STATUS_CONVERT_H_
#define PERENNIAL_SERVER_STATUS_CONVERT_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace perennial {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace perennial

#endif  // PERENNIAL_SERVER_STATUS_CONVERT_H_

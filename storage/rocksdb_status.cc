#include "storage/rocksdb_status.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace perennial {

absl::Status FromRocksDbStatus(const rocksdb::Status& status, absl::string_view context) {
  if (status.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(context, ": ", status.ToString());
  using Code = rocksdb::Status::Code;
  switch (status.code()) {
    case Code::kNotFound: return absl::NotFoundError(message);
    case Code::kCorruption: return absl::DataLossError(message);
    case Code::kNotSupported: return absl::UnimplementedError(message);
    case Code::kInvalidArgument: return absl::InvalidArgumentError(message);
    case Code::kIOError:
      if (status.IsNoSpace()) return absl::ResourceExhaustedError(message);
      if (absl::StrContains(status.ToString(), "lock")) {
        return absl::FailedPreconditionError(
            absl::StrCat(message, " (is another process using this data directory?)"));
      }
      return absl::UnavailableError(message);
    case Code::kTimedOut:
    case Code::kExpired: return absl::DeadlineExceededError(message);
    case Code::kAborted: return absl::AbortedError(message);
    case Code::kBusy:
    case Code::kTryAgain:
    case Code::kShutdownInProgress: return absl::UnavailableError(message);
    case Code::kColumnFamilyDropped: return absl::FailedPreconditionError(message);
    default: return absl::InternalError(message);
  }
}

}  // namespace perennial

// File: clients/cli/backoff.h
//
// The pause between retries of a failed call: exponential, capped, reset by a success. Every
// CLI loop that retries (`perennial ingest`, the load generator's streams and query clients)
// uses one, so that a refused or unreachable server is not hammered and the pauses read alike.
#ifndef PERENNIAL_CLIENTS_CLI_BACKOFF_H_
#define PERENNIAL_CLIENTS_CLI_BACKOFF_H_

#include <algorithm>
#include <chrono>

namespace perennial::cli {

class Backoff {
 public:
  // Requires 0 < initial <= max.
  constexpr Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max), next_(initial) {}

  // The pause before the next try: `initial` after a Reset (or at first), then twice the last
  // one, never more than `max`.
  std::chrono::milliseconds Next() {
    const std::chrono::milliseconds pause = next_;
    next_ = std::min(next_ * 2, max_);
    return pause;
  }

  // After a success: the next failure waits `initial` again.
  void Reset() { next_ = initial_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
};

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_BACKOFF_H_

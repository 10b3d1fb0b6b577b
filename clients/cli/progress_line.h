// File: clients/cli/progress_line.h
//
// The status line of a long CLI job (`perennial ingest`, `loadgen`, `pretrain`) on stderr. On a
// terminal it is redrawn in place ('\r') at most every `redraw_interval`. Anywhere else (a log
// file, a pipe, CI) each update shown is a line of its own, at most one every `log_interval`,
// so that a log holds a readable line every few seconds instead of thousands of carriage
// returns on one line.
//
// Thread-safety: not thread-safe; one thread draws.
#ifndef PERENNIAL_CLIENTS_CLI_PROGRESS_LINE_H_
#define PERENNIAL_CLIENTS_CLI_PROGRESS_LINE_H_

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace perennial::cli {

struct ProgressLineOptions {
  // Where the line goes. Default: stderr.
  std::FILE* out = stderr;
  // Redraw in place. Default (nullopt): when `out` is a terminal.
  std::optional<bool> in_place;
  // Shortest time between two lines shown in place. Default: 500 ms.
  std::chrono::milliseconds redraw_interval{500};
  // Shortest time between two lines shown as lines of their own. Default: 10 s.
  std::chrono::milliseconds log_interval{10000};
};

class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ProgressLine(ProgressLineOptions options = {});
  ~ProgressLine();  // Finish()

  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Shows `text` (one line, no newline) when the interval has passed since the last line shown,
  // or when `force` (a final state, or one an event changed). The first update always shows.
  void Update(const std::string& text, bool force = false);
  // Shows `text` as a line of its own that stays (an event: a rejection, a checkpoint), after
  // ending the line drawn in place.
  void Message(const std::string& text);
  // Ends the line drawn in place, if any. Nothing to do elsewhere.
  void Finish();

  bool in_place() const { return in_place_; }

 private:
  const ProgressLineOptions options_;
  const bool in_place_;
  std::optional<Clock::time_point> last_shown_;
  size_t drawn_width_ = 0;  // of the line drawn in place and not yet ended; 0: none
};

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_PROGRESS_LINE_H_

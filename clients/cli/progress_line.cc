#include "clients/cli/progress_line.h"

#include <unistd.h>

namespace perennial::cli {

ProgressLine::ProgressLine(ProgressLineOptions options)
    : options_(options), in_place_(options.in_place.value_or(isatty(fileno(options.out)) == 1)) {}

ProgressLine::~ProgressLine() { Finish(); }

void ProgressLine::Update(const std::string& text, bool force) {
  const Clock::time_point now = Clock::now();
  const auto interval = in_place_ ? options_.redraw_interval : options_.log_interval;
  if (!force && last_shown_.has_value() && now - *last_shown_ < interval) return;
  last_shown_ = now;
  if (!in_place_) {
    std::fprintf(options_.out, "%s\n", text.c_str());
    std::fflush(options_.out);
    return;
  }
  // Blanks what a longer previous line left beyond this one.
  const std::string padding(drawn_width_ > text.size() ? drawn_width_ - text.size() : 0, ' ');
  std::fprintf(options_.out, "\r%s%s", text.c_str(), padding.c_str());
  std::fflush(options_.out);
  drawn_width_ = text.size() + padding.size();
}

void ProgressLine::Message(const std::string& text) {
  Finish();
  std::fprintf(options_.out, "%s\n", text.c_str());
  std::fflush(options_.out);
}

void ProgressLine::Finish() {
  if (drawn_width_ == 0) return;
  std::fputc('\n', options_.out);
  std::fflush(options_.out);
  drawn_width_ = 0;
}

}  // namespace perennial::cli

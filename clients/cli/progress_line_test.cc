// ProgressLine: in place on a terminal, a line per interval elsewhere; events always show.
#include "clients/cli/progress_line.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace perennial::cli {
namespace {

// What a ProgressLine wrote into an in-memory stream.
class Captured {
 public:
  Captured() : out_(open_memstream(&data_, &size_)) {}
  ~Captured() {
    std::fclose(out_);
    std::free(data_);
  }
  std::FILE* out() const { return out_; }
  std::string text() {
    std::fflush(out_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  std::FILE* out_;
};

ProgressLineOptions Options(std::FILE* out, bool in_place) {
  ProgressLineOptions options;
  options.out = out;
  options.in_place = in_place;
  options.redraw_interval = std::chrono::hours(1);
  options.log_interval = std::chrono::hours(1);
  return options;
}

TEST(ProgressLineTest, ALogGetsWholeLinesAtMostOncePerInterval) {
  Captured captured;
  {
    ProgressLine line(Options(captured.out(), /*in_place=*/false));
    line.Update("1/3 sent");
    line.Update("2/3 sent");  // within the interval: not shown
    line.Message("rejected k2: bad image");
    line.Update("3/3 sent", /*force=*/true);
  }
  EXPECT_EQ(captured.text(), "1/3 sent\nrejected k2: bad image\n3/3 sent\n");
}

TEST(ProgressLineTest, ATerminalGetsOneLineRedrawnInPlace) {
  Captured captured;
  {
    ProgressLine line(Options(captured.out(), /*in_place=*/true));
    line.Update("10/300 sent");
    line.Update("20/300 sent");  // within the interval: not shown
    line.Update("300/300", /*force=*/true);
  }
  // The shorter last text blanks what the first left; the destructor ends the line.
  EXPECT_EQ(captured.text(), "\r10/300 sent\r300/300    \n");
}

TEST(ProgressLineTest, AMessageEndsTheLineDrawnInPlaceFirst) {
  Captured captured;
  ProgressLine line(Options(captured.out(), /*in_place=*/true));
  line.Update("1/2");
  line.Message("checkpoint: a.pt");
  line.Update("2/2", /*force=*/true);
  line.Finish();
  line.Finish();  // nothing left to end
  EXPECT_EQ(captured.text(), "\r1/2\ncheckpoint: a.pt\n\r2/2\n");
}

TEST(ProgressLineTest, ShowsEveryUpdateOnceTheIntervalHasPassed) {
  Captured captured;
  ProgressLineOptions options = Options(captured.out(), /*in_place=*/false);
  options.log_interval = std::chrono::milliseconds(0);
  ProgressLine line(options);
  line.Update("a");
  line.Update("b");
  EXPECT_EQ(captured.text(), "a\nb\n");
}

TEST(ProgressLineTest, AFileIsNotATerminal) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  ProgressLineOptions options;
  options.out = file;
  EXPECT_FALSE(ProgressLine(options).in_place());
  std::fclose(file);
}

}  // namespace
}  // namespace perennial::cli

#include "clients/cli/backoff.h"

#include <gtest/gtest.h>

namespace perennial::cli {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesFromInitialUpToMax) {
  Backoff backoff(milliseconds(100), milliseconds(500));
  EXPECT_EQ(backoff.Next(), milliseconds(100));
  EXPECT_EQ(backoff.Next(), milliseconds(200));
  EXPECT_EQ(backoff.Next(), milliseconds(400));
  EXPECT_EQ(backoff.Next(), milliseconds(500));
  EXPECT_EQ(backoff.Next(), milliseconds(500));
}

TEST(BackoffTest, ResetStartsOverAtInitial) {
  Backoff backoff(milliseconds(10), milliseconds(1000));
  backoff.Next();
  backoff.Next();
  backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), milliseconds(10));
  EXPECT_EQ(backoff.Next(), milliseconds(20));
}

TEST(BackoffTest, InitialEqualToMaxIsAFixedPause) {
  Backoff backoff(milliseconds(250), milliseconds(250));
  EXPECT_EQ(backoff.Next(), milliseconds(250));
  EXPECT_EQ(backoff.Next(), milliseconds(250));
}

}  // namespace
}  // namespace perennial::cli

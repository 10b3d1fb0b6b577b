#include "bench/profiler_trace.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace perennial::bench {
namespace {

TEST(TaggedTracePathTest, InsertsTheTagBeforeTheExtension) {
  EXPECT_EQ(TaggedTracePath("t.json", "sit"), "t.sit.json");
  EXPECT_EQ(TaggedTracePath("/tmp/run.1/t.json.gz", "infer"), "/tmp/run.1/t.json.infer.gz");
  EXPECT_EQ(TaggedTracePath("/tmp/run.1/t", "sit"), "/tmp/run.1/t.sit");
  EXPECT_EQ(TaggedTracePath(".trace", "sit"), ".trace.sit");
  EXPECT_EQ(TaggedTracePath("out/.trace", "sit"), "out/.trace.sit");
}

TEST(WriteProfilerTraceTest, WritesTheStepsOpsAsChromeJson) {
  const std::string path = ::testing::TempDir() + "profiler_trace_test.json";
  std::remove(path.c_str());
  int calls = 0;
  const std::string error = WriteProfilerTrace(
      [&] {
        ++calls;
        torch::mm(torch::ones({8, 8}), torch::ones({8, 8})).sum().item<float>();
      },
      3, path);
  ASSERT_EQ(error, "");
  EXPECT_EQ(calls, 3);
  std::stringstream contents;
  contents << std::ifstream(path).rdbuf();
  EXPECT_NE(contents.str().find("aten::mm"), std::string::npos) << contents.str().substr(0, 400);
}

TEST(WriteProfilerTraceTest, AnUnwritablePathIsAnErrorBeforeAnyStepRuns) {
  int calls = 0;
  const std::string error =
      WriteProfilerTrace([&] { ++calls; }, 3, "/nonexistent-directory/trace.json");
  EXPECT_NE(error.find("cannot write /nonexistent-directory/trace.json"), std::string::npos)
      << error;
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace perennial::bench

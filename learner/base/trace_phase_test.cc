#include "learner/base/trace_phase.h"

#include <gtest/gtest.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <sstream>
#include <string>

namespace perennial {
namespace {

// The trace the legacy profiler writes (Chrome JSON) for what `body` runs.
template <typename Body>
std::string TraceOf(Body body) {
  std::ostringstream out;
  {
    torch::autograd::profiler::RecordProfile guard(out);
    body();
  }
  return out.str();
}

TEST(TracePhaseTest, EachPhaseAndItsOpsAppearInTheTrace) {
  const torch::Tensor x = torch::ones({4, 4});
  const std::string trace = TraceOf([&] {
    TracePhase phase("perennial::step::first_phase");
    torch::Tensor y = torch::mm(x, x);
    phase.Next("perennial::step::second_phase");
    y = torch::mm(y, x);
    phase.End();
    EXPECT_EQ(y[0][0].item<float>(), 16.0f);
  });
  EXPECT_NE(trace.find("\"perennial::step::first_phase\""), std::string::npos) << trace;
  EXPECT_NE(trace.find("\"perennial::step::second_phase\""), std::string::npos) << trace;
  EXPECT_NE(trace.find("aten::mm"), std::string::npos);
}

}  // namespace
}  // namespace perennial

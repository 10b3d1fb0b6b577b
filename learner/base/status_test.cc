#include "learner/base/status.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "learner/base/torch_status.h"

namespace perennial {
namespace {

StatusOr<int> ParsePositive(int x) {
  if (x <= 0) return InvalidArgumentError("must be positive");
  return x;
}

StatusOr<int> Doubled(int x) {
  PERENNIAL_ASSIGN_OR_RETURN(int v, ParsePositive(x));
  return 2 * v;
}

Status CheckBoth(int a, int b) {
  PERENNIAL_RETURN_IF_ERROR(ParsePositive(a).status());
  PERENNIAL_RETURN_IF_ERROR(ParsePositive(b).status());
  return OkStatus();
}

TEST(StatusTest, AssignOrReturnPropagatesErrorsAndValues) {
  EXPECT_EQ(*Doubled(4), 8);
  const auto bad = Doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "must be positive");
}

TEST(StatusTest, ReturnIfErrorStopsAtFirstError) {
  EXPECT_TRUE(CheckBoth(1, 2).ok());
  EXPECT_EQ(CheckBoth(1, 0).code(), StatusCode::kInvalidArgument);
}

TEST(TorchStatusTest, ConvertsC10ErrorWithContextAndNoBacktrace) {
  const Status s = CatchTorch("multiplying", []() -> Status {
    auto a = torch::ones({2, 3});
    auto b = torch::ones({4, 5});
    (void)a.matmul(b);
    return OkStatus();
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  const std::string message(s.message());
  EXPECT_EQ(message.rfind("multiplying: ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

}  // namespace
}  // namespace perennial

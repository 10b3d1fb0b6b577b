// The human views of GetStatus and ListCheckpoints, line by line.
#include "clients/cli/status_view.h"

#include <string>

#include "gtest/gtest.h"
#include "proto/timestamp.h"

namespace perennial::cli {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1795795617);

TEST(StatusViewTest, AgesReadAtAGlance) {
  EXPECT_EQ(FormatAge(absl::Seconds(42)), "42s");
  EXPECT_EQ(FormatAge(absl::Seconds(252)), "4m 12s");
  EXPECT_EQ(FormatAge(absl::Hours(2) + absl::Minutes(13) + absl::Seconds(59)), "2h 13m");
  EXPECT_EQ(FormatAge(absl::Hours(76)), "3d 4h");
  EXPECT_EQ(FormatAge(-absl::Seconds(3)), "0s");  // clocks a little apart
}

TEST(StatusViewTest, StatusShowsEachAspectOnItsLine) {
  v1::GetStatusResponse s;
  s.set_health(v1::GetStatusResponse::LEARNING);
  s.set_model_version(151);
  s.set_method("sit+vrlwf/lora");
  s.set_device("cpu");
  s.set_dtype("bf16");
  s.set_checkpoint_version(113);
  *s.mutable_checkpoint_time() = ToProtoTimestamp(kNow - absl::Seconds(252));
  s.set_cursor(29990);
  s.set_last_seq(30000);
  s.set_lag_samples(10);
  s.set_lag_seconds(0.25);
  s.set_backlog(10);
  s.set_backlog_limit(100000);
  s.set_samples_trained(24000);
  s.set_steps(1500);
  s.set_server_version("0.1.0");
  s.set_base_model_id("fnv1a64:8fb130419eb0a0e6:19310636");
  *s.mutable_start_time() = ToProtoTimestamp(kNow - absl::Hours(2) - absl::Minutes(13));
  auto& m = *s.mutable_metrics();
  m["anytime_acc"] = 0.68125;
  m["a_auc"] = 0.6763;
  m["forgetting"] = 0.0532;
  m["loss"] = 0.41234;
  m["eval_samples"] = 500;
  m["labels_seen"] = 10;
  m["eval/count"] = 24;  // running state: not shown
  m["zs_acc/fmnist4"] = 0.45;
  m["zs_base_acc/fmnist4"] = 0.4;
  m["zs_retention/fmnist4"] = 1.125;
  m["zs_acc/colour"] = 0.9;
  EXPECT_EQ(FormatStatus(s, kNow),
            "health       LEARNING\n"
            "model        version 151 (sit+vrlwf/lora on cpu, bf16)\n"
            "checkpoint   version 113, 4m 12s ago\n"
            "log          cursor 29990 of 30000 logged; lag 10 samples, 0.2 s; backlog 10 of "
            "100000\n"
            "learning     24000 samples trained in 1500 steps; 0 skipped; loss 0.4123\n"
            "accuracy     anytime 0.681  A_auc 0.676  forgetting 0.053  (500 held-out samples, "
            "10 labels seen)\n"
            "zero-shot    colour: 0.900\n"
            "             fmnist4: 0.450 (base 0.400, retention 1.125)\n"
            "server       0.1.0, up 2h 13m; base model fnv1a64:8fb130419eb0a0e6:19310636\n");
}

TEST(StatusViewTest, AFreshServerSaysWhatItHasNot) {
  v1::GetStatusResponse s;
  s.set_health(v1::GetStatusResponse::SERVING);
  s.set_learning_paused(true);
  s.add_alarms("learner lag unbounded");
  *s.mutable_start_time() = ToProtoTimestamp(kNow);
  const std::string view = FormatStatus(s, kNow);
  EXPECT_NE(view.find("health       SERVING (learning paused)\n"), std::string::npos) << view;
  EXPECT_NE(view.find("alarms       learner lag unbounded\n"), std::string::npos) << view;
  EXPECT_NE(view.find("checkpoint   none yet\n"), std::string::npos) << view;
  EXPECT_EQ(view.find("accuracy"), std::string::npos) << view;
  EXPECT_EQ(view.find("zero-shot"), std::string::npos) << view;
  EXPECT_NE(view.find("learning     0 samples trained in 0 steps; 0 skipped\n"), std::string::npos)
      << view;
}

TEST(StatusViewTest, CheckpointsAreATable) {
  v1::ListCheckpointsResponse list;
  v1::CheckpointInfo* c = list.add_checkpoints();
  c->set_version(113);
  c->set_parent_version(112);
  *c->mutable_created_time() = ToProtoTimestamp(kNow - absl::Seconds(252));
  c->set_cursor(30000);
  c->set_samples_trained(24000);
  c->set_steps(1500);
  c->set_adapter_size_bytes(3 << 20);
  c->set_optimizer_size_bytes(1 << 19);
  (*c->mutable_metrics())["a_auc"] = 0.6763;
  c->add_tags("before-rollout");
  c->add_tags("nightly");
  list.set_current_version(113);
  list.add_corrupt_versions(7);
  EXPECT_EQ(FormatCheckpoints(list, kNow),
            "version  parent  created (UTC)             age    cursor   samples   steps      size "
            " A_auc forgetting  tags\n"
            "    113     112  2026-11-27 16:02:45    4m 12s     30000     24000    1500   3.5 MiB "
            " 0.676          -  before-rollout,nightly\n"
            "current: 113\n"
            "corrupt (failed their integrity check): 7\n");
  EXPECT_EQ(FormatCheckpoints(v1::ListCheckpointsResponse(), kNow),
            "no checkpoints yet\ncurrent: 0 (the base model)\n");
}

}  // namespace
}  // namespace perennial::cli

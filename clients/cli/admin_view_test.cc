// The views the server commands print for people, line by line.
#include "clients/cli/admin_view.h"

#include <string>

#include "gtest/gtest.h"
#include "proto/timestamp.h"

namespace perennial::cli {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1795795617);

TEST(AdminViewTest, AgesReadAtAGlance) {
  EXPECT_EQ(FormatAge(absl::Seconds(42)), "42s");
  EXPECT_EQ(FormatAge(absl::Seconds(252)), "4m 12s");
  EXPECT_EQ(FormatAge(absl::Hours(2) + absl::Minutes(13) + absl::Seconds(59)), "2h 13m");
  EXPECT_EQ(FormatAge(absl::Hours(76)), "3d 4h");
  EXPECT_EQ(FormatAge(-absl::Seconds(3)), "0s");  // clocks a little apart
}

TEST(AdminViewTest, StatusShowsEachAspectOnItsLine) {
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

TEST(AdminViewTest, AFreshServerSaysWhatItHasNot) {
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

TEST(AdminViewTest, CheckpointsAreATable) {
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

TEST(AdminViewTest, AdminCallsSayWhatTheyDidInOneLine) {
  v1::CheckpointResponse written;
  v1::CheckpointInfo* c = written.mutable_checkpoint();
  c->set_version(152);
  c->set_parent_version(151);
  c->set_cursor(30000);
  c->set_samples_trained(24000);
  c->set_adapter_size_bytes(531720);
  c->set_optimizer_size_bytes(2137990);
  c->add_tags("t1");
  EXPECT_EQ(FormatCheckpointWritten(written),
            "checkpoint 152 written (from 151; cursor 30000, 24000 samples trained, 2.5 MiB), "
            "tags t1\n");

  v1::PauseLearningResponse paused;
  paused.set_cursor(30000);
  paused.set_model_version(152);
  EXPECT_EQ(FormatPaused(paused),
            "learning paused at cursor 30000; model version 152 keeps serving\n");
  v1::ResumeLearningResponse resumed;
  resumed.set_cursor(30000);
  resumed.set_model_version(152);
  EXPECT_EQ(FormatResumed(resumed), "learning resumed from cursor 30000 (model version 152)\n");

  v1::RollbackResponse rolled;
  rolled.set_model_version(153);
  rolled.set_cursor(0);
  EXPECT_EQ(FormatRollback(rolled),
            "model version 153 is live: checkpoint 0's adapters (the base model); the learner "
            "continues after cursor 0\n");

  v1::AddVocabularyResponse vocabulary;
  vocabulary.set_added(1);
  vocabulary.set_total(2001);
  EXPECT_EQ(FormatVocabularyAdded(vocabulary),
            "1 word added; the replayed vocabulary holds 2001\n");
  v1::SetLabelSetResponse label_set;
  label_set.set_label_count(2);
  EXPECT_EQ(FormatLabelSetStored("shoes", label_set), "label set 'shoes' stored: 2 labels\n");
  v1::SetProbesResponse probes;
  (*probes.mutable_base_accuracy())["p2"] = 0.5;
  (*probes.mutable_base_accuracy())["p1"] = 0.08;
  EXPECT_EQ(FormatProbesSet(probes),
            "probe p1 set: base-model accuracy 0.080\nprobe p2 set: base-model accuracy 0.500\n");
}

TEST(AdminViewTest, PredictionsOneLineEach) {
  v1::ClassifyResponse response;
  response.set_model_version(152);
  v1::Prediction* p = response.add_predictions();
  p->set_label("sneaker");
  p->set_probability(0.57226485f);
  p = response.add_predictions();
  p->set_label("ankle boot");
  p->set_probability(0.25836885f);
  EXPECT_EQ(FormatPredictions("shoe.png", response),
            "shoe.png (model version 152)\n  0.572  sneaker\n  0.258  ankle boot\n");
}

}  // namespace
}  // namespace perennial::cli

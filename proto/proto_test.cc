// Wire-format checks for the perennial.v1 messages: round trips, defaults, and that malformed
// bytes are rejected by the parser instead of yielding half-filled messages.
#include <string>

#include "gtest/gtest.h"
#include "perennial/v1/admin.grpc.pb.h"
#include "perennial/v1/checkpoint.pb.h"
#include "perennial/v1/inference.grpc.pb.h"
#include "perennial/v1/ingest.grpc.pb.h"
#include "perennial/v1/ingest.pb.h"
#include "perennial/v1/sample.pb.h"

namespace perennial {
namespace {

v1::Sample MakeRawSample() {
  v1::Sample sample;
  v1::RawImage* raw = sample.mutable_image()->mutable_raw();
  raw->set_height(2);
  raw->set_width(3);
  raw->set_channels(1);
  raw->set_pixels(std::string("\x00\x01\x02\xfd\xfe\xff", 6));
  sample.set_label("ankle boot");
  sample.set_idempotency_key("client-7/42");
  sample.set_split(v1::Sample::EVAL);
  sample.mutable_timestamp()->set_seconds(1700000000);
  return sample;
}

TEST(ProtoTest, SampleRoundTrip) {
  const v1::Sample sample = MakeRawSample();
  std::string bytes;
  ASSERT_TRUE(sample.SerializeToString(&bytes));
  v1::Sample parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.image().data_case(), v1::Image::kRaw);
  EXPECT_EQ(parsed.image().raw().pixels(), std::string("\x00\x01\x02\xfd\xfe\xff", 6));
  EXPECT_EQ(parsed.label(), "ankle boot");
  EXPECT_EQ(parsed.idempotency_key(), "client-7/42");
  EXPECT_EQ(parsed.split(), v1::Sample::EVAL);
  EXPECT_EQ(parsed.timestamp().seconds(), 1700000000);
}

TEST(ProtoTest, DefaultsAreUnspecified) {
  v1::Sample sample;
  EXPECT_EQ(sample.split(), v1::Sample::SPLIT_UNSPECIFIED);
  EXPECT_EQ(sample.image().data_case(), v1::Image::DATA_NOT_SET);
  v1::SampleResult result;
  EXPECT_EQ(result.outcome(), v1::SampleResult::OUTCOME_UNSPECIFIED);
}

TEST(ProtoTest, MalformedBytesFailToParse) {
  v1::Sample sample;
  // Field 1 (image), length-delimited, claiming 2^32-1 bytes that are not there.
  EXPECT_FALSE(sample.ParseFromString(std::string("\x0a\xff\xff\xff\xff\x0f", 6)));
  // A wire type that does not exist (7).
  EXPECT_FALSE(sample.ParseFromString(std::string("\x0f\x01", 2)));
  // A truncated varint.
  EXPECT_FALSE(sample.ParseFromString(std::string("\x20\xff", 2)));
}

TEST(ProtoTest, TruncatedMessageFailsToParse) {
  std::string bytes;
  ASSERT_TRUE(MakeRawSample().SerializeToString(&bytes));
  v1::Sample parsed;
  EXPECT_FALSE(parsed.ParseFromString(bytes.substr(0, bytes.size() - 3)));
}

TEST(ProtoTest, InvalidUtf8LabelFailsToParse) {
  v1::Sample sample;
  // Field 2 (label), 2 bytes: 0xC3 0x28 is not valid UTF-8; proto3 strings must be.
  EXPECT_FALSE(sample.ParseFromString(std::string("\x12\x02\xc3\x28", 4)));
}

TEST(ProtoTest, CheckpointRecordKeepsOpaquePayload) {
  v1::CheckpointRecord record;
  record.mutable_info()->set_version(7);
  record.mutable_info()->set_parent_version(6);
  record.mutable_info()->set_cursor(12345);
  (*record.mutable_info()->mutable_metrics())["a_auc"] = 0.5;
  record.set_adapter(std::string("\x00\xffLoRA", 6));
  std::string bytes;
  ASSERT_TRUE(record.SerializeToString(&bytes));
  v1::CheckpointRecord parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.info().cursor(), 12345u);
  EXPECT_EQ(parsed.adapter(), std::string("\x00\xffLoRA", 6));
  EXPECT_DOUBLE_EQ(parsed.info().metrics().at("a_auc"), 0.5);
}

TEST(ProtoTest, ServicesHaveTheirMethods) {
  EXPECT_STREQ(v1::IngestService::service_full_name(), "perennial.v1.IngestService");
  // Reached through a message of each file so that the static library's object is linked in.
  const auto* ingest = v1::IngestRequest::descriptor()->file()->FindServiceByName("IngestService");
  ASSERT_NE(ingest, nullptr);
  EXPECT_EQ(ingest->full_name(), "perennial.v1.IngestService");
  ASSERT_NE(ingest->FindMethodByName("Ingest"), nullptr);
  EXPECT_TRUE(ingest->FindMethodByName("Ingest")->client_streaming());
  EXPECT_FALSE(ingest->FindMethodByName("Ingest")->server_streaming());
  EXPECT_NE(ingest->FindMethodByName("IngestBatch"), nullptr);
  const auto* admin = v1::GetStatusRequest::descriptor()->file()->FindServiceByName("AdminService");
  ASSERT_NE(admin, nullptr);
  for (const char* method :
       {"GetStatus", "Checkpoint", "ListCheckpoints", "Rollback", "SetLabelSet", "SetProbes",
        "AddVocabulary", "PauseLearning", "ResumeLearning"}) {
    EXPECT_NE(admin->FindMethodByName(method), nullptr) << method;
  }
  const auto* inference =
      v1::ClassifyRequest::descriptor()->file()->FindServiceByName("InferenceService");
  ASSERT_NE(inference, nullptr);
  EXPECT_NE(inference->FindMethodByName("Classify"), nullptr);
}

}  // namespace
}  // namespace perennial

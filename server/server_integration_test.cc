// A real perennial server on a loopback port, with a real RocksDB store in a temp directory and
// a tiny random CLIP written to a temp safetensors file, driven through its gRPC API.
#include <arpa/inet.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "learner/model/clip_config.h"
#include "learner/model/clip_init.h"
#include "learner/model/clip_weights.h"
#include "learner/model/image_io.h"
#include "learner/model/tiny_clip_for_tests.h"
#include "perennial/v1/admin.grpc.pb.h"
#include "perennial/v1/inference.grpc.pb.h"
#include "perennial/v1/ingest.grpc.pb.h"
#include "server/metrics.h"
#include "server/server.h"
#include "tests/temp_dir.h"

namespace perennial {
namespace {

namespace fs = std::filesystem;

// TinyClipConfig() with one block per tower and CLIP's 77 positions.
ClipConfig TinyConfig() {
  ClipConfig c = TinyClipConfig();
  c.vision_layers = c.text_layers = 1;
  c.context_length = 77;
  return c;
}

const TempDir& ModelDir() {
  static TempDir dir;  // removed at exit
  static const bool saved = [] {
    const ClipConfig c = TinyConfig();
    Status status =
        SaveClipWeights(dir.File("tiny.safetensors"), InitClipTensors(c, 3), ClipConfigMetadata(c));
    EXPECT_TRUE(status.ok()) << status;
    return status.ok();
  }();
  (void)saved;
  return dir;
}

v1::Image RawImage(int h, int w, int c, uint8_t seed) {
  v1::Image image;
  v1::RawImage* raw = image.mutable_raw();
  raw->set_height(h);
  raw->set_width(w);
  raw->set_channels(c);
  std::string pixels(static_cast<size_t>(h) * w * c, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) {
    pixels[i] = static_cast<char>((i * 7 + seed * 31) & 0xff);
  }
  raw->set_pixels(pixels);
  return image;
}

v1::Image PngImage(const TempDir& dir, int h, int w) {
  Image image;
  image.height = h;
  image.width = w;
  image.channels = 3;
  image.pixels.resize(static_cast<size_t>(h) * w * 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 13);
  const std::string path = dir.File("image.png");
  EXPECT_TRUE(WritePng(path, image).ok());
  std::ifstream in(path, std::ios::binary);
  v1::Image out;
  out.set_encoded(std::string(std::istreambuf_iterator<char>(in), {}));
  return out;
}

v1::Sample MakeSample(v1::Image image, const std::string& label, const std::string& key = "") {
  v1::Sample sample;
  *sample.mutable_image() = std::move(image);
  sample.set_label(label);
  sample.set_idempotency_key(key);
  return sample;
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
  close(fd);
  return response;
}

class ServerTest : public ::testing::Test {
 protected:
  ServerOptions Options() {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.data_dir = data_.File("data");
    options.model_path = ModelDir().File("tiny.safetensors");
    options.sync_writes = false;
    options.limits.max_message_bytes = 1 << 20;
    options.drain_timeout = absl::Seconds(2);
    options.method = "frozen";
    return options;
  }

  // Starts (and by default loads) a server and connects stubs to it.
  void StartServer(const ServerOptions& options, bool load = true) {
    absl::StatusOr<std::unique_ptr<PerennialServer>> server = PerennialServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    ingest_ = v1::IngestService::NewStub(channel_);
    inference_ = v1::InferenceService::NewStub(channel_);
    admin_ = v1::AdminService::NewStub(channel_);
    if (load) {
      ASSERT_TRUE(server_->LoadModel().ok());
    }
  }

  // grpc.health.v1.Health/Check for the whole server: 1 SERVING, 2 NOT_SERVING (proto enum),
  // read from the raw response bytes (field 1, varint).
  int HealthStatus() {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    grpc::ByteBuffer request, response;  // empty HealthCheckRequest: service ""
    grpc::Slice empty("");
    request = grpc::ByteBuffer(&empty, 1);
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   &response, [&done](grpc::Status s) { done.set_value(s); });
    const grpc::Status status = done.get_future().get();
    if (!status.ok()) return -1;
    std::vector<grpc::Slice> slices;
    response.Dump(&slices);
    std::string bytes;
    for (const grpc::Slice& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;
  }

  grpc::Status Classify(const v1::ClassifyRequest& request, v1::ClassifyResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return inference_->Classify(&context, request, response);
  }

  grpc::Status IngestBatch(const std::vector<v1::Sample>& samples, v1::IngestResponse* response,
                           grpc::ClientContext* context = nullptr) {
    grpc::ClientContext local;
    v1::IngestRequest request;
    for (const v1::Sample& s : samples) *request.add_samples() = s;
    return ingest_->IngestBatch(context ? context : &local, request, response);
  }

  v1::GetStatusResponse ServerStatus() {
    grpc::ClientContext context;
    v1::GetStatusResponse response;
    EXPECT_TRUE(admin_->GetStatus(&context, {}, &response).ok());
    return response;
  }

  // Waits for the learner to consume the log up to `seq`: up to 30 s, for a busy machine (ctest
  // runs two tests at once on 2 cores); it usually takes a few hundred ms.
  void WaitForCursor(uint64_t seq) {
    for (int i = 0; i < 3000 && ServerStatus().cursor() < seq; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_EQ(ServerStatus().cursor(), seq);
  }

  TempDir data_;
  std::unique_ptr<PerennialServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::InferenceService::Stub> inference_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

TEST_F(ServerTest, HealthIsNotServingUntilTheModelIsLoaded) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Options(), /*load=*/false));
  EXPECT_EQ(HealthStatus(), 2);
  EXPECT_EQ(ServerStatus().health(), v1::GetStatusResponse::STARTING);
  v1::ClassifyRequest request;
  *request.mutable_image() = RawImage(16, 16, 3, 1);
  request.add_labels("cat");
  v1::ClassifyResponse response;
  EXPECT_EQ(Classify(request, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  v1::IngestResponse ingested;  // ingestion needs no model
  ASSERT_TRUE(IngestBatch({MakeSample(RawImage(4, 4, 1, 1), "cat")}, &ingested).ok());
  EXPECT_EQ(ingested.accepted(), 1u);

  ASSERT_TRUE(server_->LoadModel().ok());
  EXPECT_EQ(HealthStatus(), 1);
  const v1::GetStatusResponse status = ServerStatus();
  EXPECT_EQ(status.health(), v1::GetStatusResponse::SERVING);
  EXPECT_EQ(status.method(), "frozen");
  EXPECT_EQ(status.last_seq(), 1u);
  EXPECT_EQ(Classify(request, &response).error_code(), grpc::StatusCode::OK);
}

TEST_F(ServerTest, IngestAcknowledgesDeduplicatesAndRejectsWithReasons) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Options()));
  v1::Sample corrupt = MakeSample(v1::Image(), "cat", "c");
  corrupt.mutable_image()->set_encoded(std::string("\x89PNG\r\n\x1a\n", 8) + "not a png");
  v1::IngestResponse response;
  ASSERT_TRUE(IngestBatch({MakeSample(RawImage(8, 8, 3, 1), " ankle boot ", "a"),
                           MakeSample(PngImage(data_, 12, 10), "cat", "b"), corrupt,
                           MakeSample(RawImage(8, 8, 3, 2), "   ", "d"),
                           MakeSample(RawImage(8, 8, 3, 2), "dog", std::string(129, 'k'))},
                          &response)
                  .ok());
  ASSERT_EQ(response.results_size(), 5);
  EXPECT_EQ(response.accepted(), 2u);
  EXPECT_EQ(response.rejected(), 3u);
  EXPECT_EQ(response.last_seq(), 2u);
  EXPECT_EQ(response.results(0).outcome(), v1::SampleResult::ACCEPTED);
  EXPECT_EQ(response.results(0).seq(), 1u);
  EXPECT_EQ(response.results(1).outcome(), v1::SampleResult::ACCEPTED);
  EXPECT_EQ(response.results(1).seq(), 2u);
  EXPECT_EQ(response.results(2).outcome(), v1::SampleResult::REJECTED);
  EXPECT_NE(response.results(2).reason().find("samples[2].image.encoded"), std::string::npos)
      << response.results(2).reason();
  EXPECT_FALSE(response.results(2).retryable());
  EXPECT_EQ(response.results(3).reason(), "samples[3].label: empty; a class name is required");
  EXPECT_EQ(response.results(4).reason(),
            "samples[4].idempotency_key: 129 bytes, at most 128 allowed");
  EXPECT_EQ(response.results(4).idempotency_key(), std::string(129, 'k'));

  // The same key again: DUPLICATE with the original seq, nothing new stored. Streamed this time,
  // in two messages, with indexes running across them.
  grpc::ClientContext context;
  v1::IngestResponse streamed;
  auto writer = ingest_->Ingest(&context, &streamed);
  v1::IngestRequest first, second;
  *first.add_samples() = MakeSample(RawImage(8, 8, 3, 9), "ankle boot", "a");
  *second.add_samples() = MakeSample(RawImage(8, 8, 1, 3), "shirt", "e");
  *second.add_samples() = MakeSample(RawImage(8, 8, 1, 4), "shirt");
  ASSERT_TRUE(writer->Write(first));
  ASSERT_TRUE(writer->Write(second));
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  ASSERT_EQ(streamed.results_size(), 3);
  EXPECT_EQ(streamed.results(0).outcome(), v1::SampleResult::DUPLICATE);
  EXPECT_EQ(streamed.results(0).seq(), 1u);
  EXPECT_EQ(streamed.results(1).index(), 1u);
  EXPECT_EQ(streamed.results(1).seq(), 3u);
  EXPECT_EQ(streamed.results(2).index(), 2u);
  EXPECT_EQ(streamed.results(2).seq(), 4u);
  EXPECT_EQ(streamed.duplicates(), 1u);
  EXPECT_EQ(streamed.last_seq(), 4u);
}

TEST_F(ServerTest, ClassifyAndEmbed) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Options()));
  v1::ClassifyRequest request;
  *request.mutable_image() = PngImage(data_, 20, 24);
  for (const char* label : {"cat", "dog", "car", "ankle boot"}) request.add_labels(label);
  request.set_top_k(3);
  v1::ClassifyResponse response;
  ASSERT_TRUE(Classify(request, &response).ok());
  ASSERT_EQ(response.predictions_size(), 3);
  EXPECT_EQ(response.model_version(), 0u);
  for (int i = 1; i < 3; ++i) {
    EXPECT_GE(response.predictions(i - 1).probability(), response.predictions(i).probability());
  }
  request.set_top_k(0);  // 0: 5, clamped to the 4 labels
  ASSERT_TRUE(Classify(request, &response).ok());
  ASSERT_EQ(response.predictions_size(), 4);
  double sum = 0;
  for (const v1::Prediction& p : response.predictions()) sum += p.probability();
  EXPECT_NEAR(sum, 1.0, 1e-5);

  // The same through a stored label set gives the same answer.
  grpc::ClientContext set_context;
  v1::SetLabelSetRequest set;
  set.set_name("animals-1");
  for (const char* label : {"cat", "dog", "car", "ankle boot"}) set.add_labels(label);
  v1::SetLabelSetResponse set_response;
  ASSERT_TRUE(admin_->SetLabelSet(&set_context, set, &set_response).ok());
  EXPECT_EQ(set_response.label_count(), 4u);
  v1::ClassifyRequest by_set;
  *by_set.mutable_image() = request.image();
  by_set.set_label_set("animals-1");
  v1::ClassifyResponse set_answer;
  ASSERT_TRUE(Classify(by_set, &set_answer).ok());
  ASSERT_EQ(set_answer.predictions_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(set_answer.predictions(i).label(), response.predictions(i).label());
    EXPECT_FLOAT_EQ(set_answer.predictions(i).probability(), response.predictions(i).probability());
  }

  grpc::ClientContext embed_context;
  v1::EmbedImageRequest embed;
  *embed.add_images() = RawImage(16, 16, 3, 5);
  *embed.add_images() = RawImage(30, 17, 1, 6);
  v1::EmbedImageResponse embedded;
  ASSERT_TRUE(inference_->EmbedImage(&embed_context, embed, &embedded).ok());
  ASSERT_EQ(embedded.embeddings_size(), 2);
  for (const v1::Embedding& e : embedded.embeddings()) {
    ASSERT_EQ(e.values_size(), 16);
    double norm = 0;
    for (float v : e.values()) norm += v * v;
    EXPECT_NEAR(norm, 1.0, 1e-4);
  }
  grpc::ClientContext text_context;
  v1::EmbedTextRequest texts;
  texts.add_texts("a photo of a cat.");
  v1::EmbedTextResponse text_embedded;
  ASSERT_TRUE(inference_->EmbedText(&text_context, texts, &text_embedded).ok());
  ASSERT_EQ(text_embedded.embeddings_size(), 1);
  EXPECT_EQ(text_embedded.embeddings(0).values_size(), 16);
}

// The raw-pixel request of `image`.
v1::Image RawRequestImage(const Image& image) {
  v1::Image request;
  v1::RawImage* raw = request.mutable_raw();
  raw->set_height(image.height);
  raw->set_width(image.width);
  raw->set_channels(image.channels);
  raw->set_pixels(std::string(image.pixels.begin(), image.pixels.end()));
  return request;
}

double MaxAbsDiff(const v1::Embedding& a, const v1::Embedding& b) {
  double max_diff = 0;
  for (int i = 0; i < a.values_size() && i < b.values_size(); ++i) {
    max_diff = std::max(max_diff, std::abs(double{a.values(i)} - b.values(i)));
  }
  return max_diff;
}

// --jpeg-draft: the tiny model's input is 16 px, so an 80x120 JPEG is decoded at 40x60 (Pillow's
// draft with 32 px, checked in image_io_test): the query sees exactly those pixels.
TEST_F(ServerTest, JpegDraftQueriesSeeTheReducedDecode) {
  ServerOptions options = Options();
  options.model_host.jpeg_draft = true;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  const std::string file = "tests/fixtures/images/photo_80x120.jpg";
  std::ifstream in(file, std::ios::binary);
  v1::Image jpeg;
  jpeg.set_encoded(std::string(std::istreambuf_iterator<char>(in), {}));
  DecodeOptions draft;
  draft.draft_min_side = 32;
  const absl::StatusOr<Image> reduced = ReadImageFile(file, draft);
  const absl::StatusOr<Image> full = ReadImageFile(file);
  ASSERT_TRUE(reduced.ok() && full.ok());
  ASSERT_EQ(reduced->width, 40);

  grpc::ClientContext context;
  v1::EmbedImageRequest request;
  *request.add_images() = jpeg;
  *request.add_images() = RawRequestImage(*reduced);
  *request.add_images() = RawRequestImage(*full);
  v1::EmbedImageResponse response;
  ASSERT_TRUE(inference_->EmbedImage(&context, request, &response).ok());
  ASSERT_EQ(response.embeddings_size(), 3);
  const double to_reduced = MaxAbsDiff(response.embeddings(0), response.embeddings(1));
  const double to_full = MaxAbsDiff(response.embeddings(0), response.embeddings(2));
  std::printf("jpeg query embedding: max |diff| to the reduced decode %.3g, to the full %.3g\n",
              to_reduced, to_full);
  EXPECT_LT(to_reduced, 1e-6);
  EXPECT_GT(to_full, 1e-4);
}

TEST_F(ServerTest, BadInputGetsTheRightCodeAndTheServerStaysUp) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Options()));
  auto classify = [](v1::Image image, std::vector<std::string> labels) {
    v1::ClassifyRequest request;
    *request.mutable_image() = std::move(image);
    for (auto& l : labels) request.add_labels(l);
    return request;
  };
  const v1::Image good = RawImage(16, 16, 3, 1);
  v1::Image corrupt, empty_encoded, oversized, wrong_shape, jpeg_garbage;
  corrupt.set_encoded(std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, 'x'));
  empty_encoded.set_encoded("");
  jpeg_garbage.set_encoded(std::string("\xff\xd8\xff", 3) + std::string(50, '\0'));
  oversized = RawImage(1, 1, 3, 1);
  oversized.mutable_raw()->set_height(5000);
  wrong_shape = RawImage(28, 28, 1, 1);
  wrong_shape.mutable_raw()->set_channels(3);

  struct Case {
    std::string name;
    v1::ClassifyRequest request;
    grpc::StatusCode code;
  };
  std::vector<Case> cases = {
      {"no image", classify(v1::Image(), {"cat"}), grpc::StatusCode::INVALID_ARGUMENT},
      {"corrupt png", classify(corrupt, {"cat"}), grpc::StatusCode::INVALID_ARGUMENT},
      {"garbage jpeg", classify(jpeg_garbage, {"cat"}), grpc::StatusCode::INVALID_ARGUMENT},
      {"zero-size image", classify(empty_encoded, {"cat"}), grpc::StatusCode::INVALID_ARGUMENT},
      {"oversized raw", classify(oversized, {"cat"}), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {"wrong raw shape", classify(wrong_shape, {"cat"}), grpc::StatusCode::INVALID_ARGUMENT},
      {"no labels", classify(good, {}), grpc::StatusCode::INVALID_ARGUMENT},
      {"empty label", classify(good, {"cat", ""}), grpc::StatusCode::INVALID_ARGUMENT},
      {"huge label", classify(good, {std::string(300, 'a')}), grpc::StatusCode::INVALID_ARGUMENT},
      {"repeated label", classify(good, {"a", "a"}), grpc::StatusCode::INVALID_ARGUMENT},
  };
  Case unknown_set{"unknown label set", classify(good, {}), grpc::StatusCode::NOT_FOUND};
  unknown_set.request.set_label_set("nope");
  cases.push_back(unknown_set);
  Case both{"labels and set", classify(good, {"cat"}), grpc::StatusCode::INVALID_ARGUMENT};
  both.request.set_label_set("nope");
  cases.push_back(both);
  Case bad_template{"template without {}", classify(good, {"cat"}),
                    grpc::StatusCode::INVALID_ARGUMENT};
  bad_template.request.add_templates("a photo");
  cases.push_back(bad_template);
  Case future{"min_version never reached", classify(good, {"cat"}),
              grpc::StatusCode::FAILED_PRECONDITION};
  future.request.set_min_version(99);
  cases.push_back(future);
  Case too_big{"message over the limit", classify(RawImage(1000, 400, 3, 1), {"cat"}),
               grpc::StatusCode::RESOURCE_EXHAUSTED};
  cases.push_back(too_big);

  for (const Case& c : cases) {
    v1::ClassifyResponse response;
    const grpc::Status status = Classify(c.request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_FALSE(status.error_message().empty()) << c.name;
  }

  grpc::ClientContext rollback_context;
  v1::RollbackRequest rollback;
  rollback.set_version(42);
  v1::RollbackResponse rolled;
  EXPECT_EQ(admin_->Rollback(&rollback_context, rollback, &rolled).error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext set_context;
  v1::SetLabelSetRequest bad_set;
  bad_set.set_name("no spaces allowed");
  bad_set.add_labels("cat");
  v1::SetLabelSetResponse set_response;
  EXPECT_EQ(admin_->SetLabelSet(&set_context, bad_set, &set_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext empty_context;
  v1::IngestResponse ingested;
  EXPECT_EQ(ingest_->IngestBatch(&empty_context, v1::IngestRequest(), &ingested).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Still serving.
  v1::ClassifyResponse response;
  EXPECT_TRUE(Classify(classify(good, {"cat", "dog"}), &response).ok());
  EXPECT_EQ(HealthStatus(), 1);
}

TEST_F(ServerTest, CheckpointAndRollbackKeepVersionsGrowing) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Options()));
  v1::IngestResponse ingested;
  ASSERT_TRUE(
      IngestBatch({MakeSample(RawImage(4, 4, 1, 1), "a"), MakeSample(RawImage(4, 4, 1, 2), "b"),
                   MakeSample(RawImage(4, 4, 1, 3), "c")},
                  &ingested)
          .ok());
  WaitForCursor(3);
  grpc::ClientContext c1;
  v1::CheckpointRequest checkpoint;
  checkpoint.add_tags("before-rollout");
  v1::CheckpointResponse written;
  ASSERT_TRUE(admin_->Checkpoint(&c1, checkpoint, &written).ok());
  EXPECT_EQ(written.checkpoint().version(), 1u);
  EXPECT_EQ(written.checkpoint().cursor(), 3u);
  EXPECT_EQ(written.checkpoint().method(), "frozen");
  EXPECT_EQ(ServerStatus().model_version(), 1u);
  EXPECT_EQ(ServerStatus().checkpoint_version(), 1u);

  grpc::ClientContext c2;
  v1::ListCheckpointsResponse listed;
  ASSERT_TRUE(admin_->ListCheckpoints(&c2, {}, &listed).ok());
  ASSERT_EQ(listed.checkpoints_size(), 1);
  EXPECT_EQ(listed.checkpoints(0).tags(0), "before-rollout");
  EXPECT_EQ(listed.current_version(), 1u);

  grpc::ClientContext pause_context;
  v1::PauseLearningResponse paused;
  ASSERT_TRUE(admin_->PauseLearning(&pause_context, {}, &paused).ok());
  grpc::ClientContext c3;
  v1::RollbackRequest to_base;
  to_base.set_version(0);
  v1::RollbackResponse rolled;
  ASSERT_TRUE(admin_->Rollback(&c3, to_base, &rolled).ok());
  EXPECT_EQ(rolled.model_version(), 2u);
  EXPECT_EQ(rolled.restored_version(), 0u);
  EXPECT_EQ(rolled.cursor(), 0u);
  EXPECT_EQ(ServerStatus().cursor(), 0u);
  EXPECT_EQ(ServerStatus().checkpoint_version(), 0u);

  grpc::ClientContext c4;
  v1::RollbackRequest to_one;
  to_one.set_version(1);
  ASSERT_TRUE(admin_->Rollback(&c4, to_one, &rolled).ok());
  EXPECT_EQ(rolled.model_version(), 3u);
  EXPECT_EQ(rolled.cursor(), 3u);

  v1::ClassifyRequest request;
  *request.mutable_image() = RawImage(16, 16, 3, 1);
  request.add_labels("a");
  request.add_labels("b");
  v1::ClassifyResponse answer;
  ASSERT_TRUE(Classify(request, &answer).ok());
  EXPECT_EQ(answer.model_version(), 3u);
}

TEST_F(ServerTest, BackpressureRefusesWithARetryHint) {
  ServerOptions options = Options();
  options.limits.max_backlog_samples = 2;
  options.limits.backpressure_retry_ms = 250;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  grpc::ClientContext pause_context;
  v1::PauseLearningResponse paused;
  ASSERT_TRUE(admin_->PauseLearning(&pause_context, {}, &paused).ok());
  EXPECT_TRUE(ServerStatus().learning_paused());

  v1::IngestResponse partial;
  ASSERT_TRUE(
      IngestBatch({MakeSample(RawImage(4, 4, 1, 1), "a"), MakeSample(RawImage(4, 4, 1, 2), "b"),
                   MakeSample(RawImage(4, 4, 1, 3), "c")},
                  &partial)
          .ok());
  EXPECT_EQ(partial.accepted(), 2u);
  EXPECT_EQ(partial.rejected(), 1u);
  EXPECT_TRUE(partial.results(2).retryable());
  EXPECT_EQ(partial.retry_after_ms(), 250u);

  grpc::ClientContext refused_context;
  v1::IngestResponse refused;
  const grpc::Status status =
      IngestBatch({MakeSample(RawImage(4, 4, 1, 4), "d")}, &refused, &refused_context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const auto& trailers = refused_context.GetServerTrailingMetadata();
  auto hint = trailers.find("retry-after-ms");
  ASSERT_NE(hint, trailers.end());
  EXPECT_EQ(std::string(hint->second.data(), hint->second.size()), "250");

  grpc::ClientContext resume_context;
  v1::ResumeLearningResponse resumed;
  ASSERT_TRUE(admin_->ResumeLearning(&resume_context, {}, &resumed).ok());
  WaitForCursor(2);
  v1::IngestResponse accepted;
  ASSERT_TRUE(IngestBatch({MakeSample(RawImage(4, 4, 1, 4), "d")}, &accepted).ok());
  EXPECT_EQ(accepted.accepted(), 1u);
}

TEST_F(ServerTest, MetricsEndpointServesPerennialSeries) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Options()));
  v1::IngestResponse ingested;
  ASSERT_TRUE(
      IngestBatch({MakeSample(RawImage(4, 4, 1, 1), "a"), MakeSample(v1::Image(), "b")}, &ingested)
          .ok());
  v1::ClassifyRequest request;
  *request.mutable_image() = RawImage(16, 16, 3, 1);
  request.add_labels("a");
  v1::ClassifyResponse answer;
  ASSERT_TRUE(Classify(request, &answer).ok());

  ASSERT_NE(server_->metrics_port(), 0);
  const std::string page = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_NE(page.find("200 OK"), std::string::npos) << page.substr(0, 200);
  for (const char* series :
       {"perennial_ingest_samples_total{result=\"accepted\"} 1",
        "perennial_ingest_samples_total{result=\"rejected\"} 1", "perennial_ingest_bytes_total",
        "perennial_query_latency_seconds_count{method=\"classify\"} 1",
        "perennial_query_batch_size_count 1", "perennial_model_version 0",
        "perennial_backlog_limit_samples 100000", "perennial_process_resident_memory_bytes",
        "perennial_storage_memory_bytes{kind=\"block_cache\"}",
        "perennial_storage_memory_bytes{kind=\"table_readers\"}",
        "perennial_storage_sst_file_bytes", "perennial_process_heap_bytes{state=\"free\"}",
        "perennial_learner_input_wait_seconds_total", "perennial_grpc_handler_threads_limit 256"}) {
    EXPECT_NE(page.find(series), std::string::npos) << series;
  }
  // The accepted sample (and the store's metadata) sit in a memtable; the model is on the heap.
  // The calls above ran on gRPC's handler threads.
  for (const std::string series : {"perennial_storage_memory_bytes{kind=\"memtables\"} ",
                                   "perennial_process_heap_bytes{state=\"allocated\"} ",
                                   "\nperennial_grpc_handler_threads "}) {
    const size_t at = page.find(series);
    ASSERT_NE(at, std::string::npos) << series;
    EXPECT_GT(std::stod(page.substr(at + series.size())), 0.0) << series;
  }
}

// A handler thread that exits after its call makes the next burst start a new one, which pays
// LibTorch's per-thread setup (server.h: idle_handler_threads). gRPC's own default keeps 2 idle
// threads, so that every burst of concurrent queries churned through threads.
TEST_F(ServerTest, BurstsOfConcurrentQueriesKeepTheirHandlerThreads) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Options()));
  v1::ClassifyRequest request;
  *request.mutable_image() = RawImage(16, 16, 3, 1);
  for (const char* label : {"cat", "dog"}) request.add_labels(label);
  auto burst = [&] {
    std::atomic<int> answered{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 12; ++i) {
      clients.emplace_back([&] {
        v1::ClassifyResponse response;
        if (Classify(request, &response).ok()) answered.fetch_add(1);
      });
    }
    for (std::thread& client : clients) client.join();
    return answered.load();
  };
  ASSERT_EQ(burst(), 12);
  const std::set<std::string> after_first = GrpcHandlerThreadIds();
  ASSERT_FALSE(after_first.empty());
  for (int round = 0; round < 3; ++round) ASSERT_EQ(burst(), 12);
  const std::set<std::string> after_more = GrpcHandlerThreadIds();
  for (const std::string& id : after_first) {
    EXPECT_EQ(after_more.count(id), 1u) << "handler thread " << id << " exited between bursts";
  }
}

// Queries take priority over training: while a query is being encoded the learner waits,
// before a step or at a yield point inside one, and exports the time it waited.
// With every handler thread busy, a call is refused at once instead of starting a thread.
TEST_F(ServerTest, CallsBeyondMaxHandlerThreadsAreRefusedAtOnce) {
  ServerOptions options = Options();
  options.method = "sit";  // publishes, so a query may wait for a version
  options.idle_handler_threads = 2;
  options.max_handler_threads = 6;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  v1::ClassifyRequest waiting;
  *waiting.mutable_image() = RawImage(16, 16, 3, 1);
  waiting.add_labels("cat");
  waiting.add_labels("dog");
  waiting.set_min_version(1000);  // no sample comes: each call holds its thread to its deadline
  std::vector<std::future<std::pair<grpc::StatusCode, absl::Duration>>> calls;
  for (int i = 0; i < 12; ++i) {
    calls.push_back(std::async(std::launch::async, [&] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      v1::ClassifyResponse response;
      const absl::Time start = absl::Now();
      const grpc::Status status = inference_->Classify(&context, waiting, &response);
      return std::make_pair(status.error_code(), absl::Now() - start);
    }));
  }
  int refused = 0, waited = 0;
  for (auto& call : calls) {
    const auto [code, took] = call.get();
    if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_LT(took, absl::Seconds(1));
    } else {
      EXPECT_EQ(code, grpc::StatusCode::DEADLINE_EXCEEDED);
      ++waited;
    }
  }
  std::printf("12 waiting calls, 6 handler threads: %d waited, %d refused\n", waited, refused);
  EXPECT_GE(refused, 6);
  EXPECT_GE(waited, 1);
  v1::ClassifyRequest now = waiting;
  now.set_min_version(0);
  // The server is intact once the waiting calls' threads are back (their handlers return at
  // the same deadline the clients saw).
  grpc::Status after;
  for (int i = 0; i < 60; ++i) {
    v1::ClassifyResponse response;
    after = Classify(now, &response);
    if (after.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(after.ok()) << after.error_code() << ": " << after.error_message();
}

TEST_F(ServerTest, MaxHandlerThreadsMustExceedTheIdleOnes) {
  ServerOptions options = Options();
  options.idle_handler_threads = 8;
  options.max_handler_threads = 8;
  const absl::StatusOr<std::unique_ptr<PerennialServer>> server = PerennialServer::Start(options);
  ASSERT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(server.status().message().find("--max-handler-threads 8 must exceed"),
            std::string::npos)
      << server.status();
  // With idle_handler_threads 0, the query batch size's idle threads stay under the cap.
  options.idle_handler_threads = 0;
  options.batching.max_batch_size = 300;
  options.max_handler_threads = 256;
  EXPECT_EQ(ResolvedIdleHandlerThreads(options), 255);
}

TEST_F(ServerTest, LearnerPausesForQueriesAndKeepsTraining) {
  ServerOptions options = Options();
  options.method = "sit";
  // At its default lower priority the learner, on a loaded machine (ctest -j), runs mostly
  // when the query threads sleep, i.e. when nothing is pending, and never reaches a pause: the
  // scheduler then gives queries priority by itself. Same priority here, so that it does.
  options.learning.learner_nice = 0;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  for (int request = 0; request < 8; ++request) {
    std::vector<v1::Sample> samples;
    for (int i = 0; i < 500; ++i) {
      const uint8_t seed = static_cast<uint8_t>(i);
      samples.push_back(MakeSample(RawImage(16, 16, 3, seed), i % 2 ? "a" : "b"));
    }
    v1::IngestResponse ingested;
    ASSERT_TRUE(IngestBatch(samples, &ingested).ok());
  }
  v1::EmbedImageRequest embed;
  for (int i = 0; i < 64; ++i) {
    *embed.add_images() = RawImage(16, 16, 3, static_cast<uint8_t>(i));
  }
  // At least 50 back-to-back queries, and on until the learner has taken a step (its pause
  // budget per step lets training advance under them), bounded for a loaded machine.
  int queries_during_training = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (ServerStatus().lag_samples() > 0 && absl::Now() < deadline &&
         (queries_during_training < 50 || ServerStatus().cursor() == 0)) {
    grpc::ClientContext context;
    v1::EmbedImageResponse embedded;
    ASSERT_TRUE(inference_->EmbedImage(&context, embed, &embedded).ok());
    ++queries_during_training;
  }
  ASSERT_GT(queries_during_training, 0) << "the learner caught up before the first query";
  EXPECT_GT(ServerStatus().cursor(), 0u);  // it trained meanwhile

  const std::string page = HttpGet(server_->metrics_port(), "/metrics");
  const std::string name = "\nperennial_learner_query_pause_seconds_total ";
  const size_t at = page.find(name);
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::strtod(page.c_str() + at + name.size(), nullptr), 0.0);
}

TEST_F(ServerTest, ShutdownCheckpointsAndARestartResumes) {
  const ServerOptions options = Options();
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  v1::IngestResponse ingested;
  ASSERT_TRUE(IngestBatch({MakeSample(RawImage(4, 4, 1, 1), "a", "k1"),
                           MakeSample(RawImage(4, 4, 1, 2), "b", "k2")},
                          &ingested)
                  .ok());
  WaitForCursor(2);
  ASSERT_TRUE(server_->Shutdown().ok());
  server_.reset();

  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  const v1::GetStatusResponse status = ServerStatus();
  EXPECT_EQ(status.checkpoint_version(), 1u);
  EXPECT_EQ(status.model_version(), 1u);
  EXPECT_EQ(status.last_seq(), 2u);
  v1::IngestResponse again;
  ASSERT_TRUE(IngestBatch({MakeSample(RawImage(4, 4, 1, 1), "a", "k1")}, &again).ok());
  EXPECT_EQ(again.results(0).outcome(), v1::SampleResult::DUPLICATE);
  EXPECT_EQ(again.results(0).seq(), 1u);
}

}  // namespace
}  // namespace perennial

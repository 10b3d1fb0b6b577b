#include "server/inference_service.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "learner/base/torch_status.h"
#include "learner/model/preprocess.h"
#include "learner/model/zero_shot.h"
#include "server/handler_threads.h"
#include "server/query_batcher.h"
#include "server/status_convert.h"
#include "server/validation.h"

namespace perennial {
namespace {

// Longest wait for a min_version when the client set no deadline.
constexpr absl::Duration kMaxVersionWait = absl::Seconds(60);

absl::StatusOr<torch::Tensor> Preprocess(const std::vector<Image>& images,
                                         const PreprocessOptions& options) {
  return CatchTorch("preprocessing images", [&]() -> absl::StatusOr<torch::Tensor> {
    return PreprocessBatch(images, options);
  });
}

void FillEmbedding(const torch::Tensor& row, v1::Embedding* out) {
  const torch::Tensor values = row.to(torch::kCPU, torch::kFloat32).contiguous();
  const float* data = values.data_ptr<float>();
  out->mutable_values()->Assign(data, data + values.numel());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ServedModel>> InferenceServiceImpl::Snapshot(
    uint64_t min_version, absl::Time deadline) const {
  std::shared_ptr<const ServedModel> live = core_->host->Current();
  if (min_version <= live->version) return live;
  if (!core_->learner->WillPublish()) {
    return absl::FailedPreconditionError(
        absl::StrCat("min_version ", min_version, " is not live (live: ", live->version,
                     ") and will not be "
                     "reached: learning is paused or the method (",
                     core_->learner->method(), ") does not publish new versions"));
  }
  return core_->host->AwaitVersion(min_version, std::min(deadline, absl::Now() + kMaxVersionWait));
}

absl::Status InferenceServiceImpl::DoClassify(const grpc::ServerContext& context,
                                              const v1::ClassifyRequest& request,
                                              v1::ClassifyResponse* response) {
  LimitHandlerThreads(core_->handler_intra_op_threads);
  absl::Status status = ValidateClassify(request, core_->limits);
  if (!status.ok()) return status;
  status = core_->CheckReady();
  if (!status.ok()) return status;

  std::vector<std::string> labels(request.labels().begin(), request.labels().end());
  std::vector<std::string> templates(request.templates().begin(), request.templates().end());
  if (!request.label_set().empty()) {
    absl::StatusOr<std::shared_ptr<const LabelSet>> set =
        core_->label_sets->Get(request.label_set());
    if (!set.ok()) return set.status();
    labels = (*set)->labels;
    if (templates.empty()) templates = (*set)->templates;
  }
  if (templates.empty()) templates = DefaultTemplates();

  absl::StatusOr<Image> image = DecodeRequestImage(request.image(), core_->limits, "image",
                                                   core_->host->jpeg_draft_min_side());
  if (!image.ok()) return image.status();
  absl::StatusOr<torch::Tensor> pixels =
      Preprocess({*std::move(image)}, core_->host->preprocess_options());
  if (!pixels.ok()) return pixels.status();

  const absl::Time deadline = CallDeadline(context);
  absl::StatusOr<std::shared_ptr<const ServedModel>> snapshot =
      Snapshot(request.min_version(), deadline);
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<torch::Tensor> classes = [&] {
    const QueryBatcher::PendingScope text_work(core_->batcher);  // a miss runs the text tower
    return core_->host->LabelEmbeddings(**snapshot, labels, templates);
  }();
  if (!classes.ok()) return classes.status();
  absl::StatusOr<torch::Tensor> features =
      core_->batcher->EncodeImages(*snapshot, *std::move(pixels), deadline);
  if (!features.ok()) return features.status();

  return CatchTorch("scoring labels", [&]() -> absl::Status {
    ZeroShotScores scores =
        ScoreZeroShot(core_->host->model(), *features, classes->to(features->device()));
    const int64_t k = static_cast<int64_t>(labels.size());
    const int64_t top_k = std::min<int64_t>(request.top_k() == 0 ? 5 : request.top_k(), k);
    const torch::Tensor probs = scores.probs[0].to(torch::kCPU, torch::kFloat32).contiguous();
    const torch::Tensor logits = scores.logits[0].to(torch::kCPU, torch::kFloat32).contiguous();
    const torch::Tensor order = std::get<1>(probs.topk(top_k)).contiguous();
    // Read on the CPU: a tensor op per element cost ~15 dispatcher calls per answer.
    const int64_t* ranked = order.data_ptr<int64_t>();
    const float* prob = probs.data_ptr<float>();
    const float* logit = logits.data_ptr<float>();
    for (int64_t i = 0; i < top_k; ++i) {
      const int64_t c = ranked[i];
      v1::Prediction* prediction = response->add_predictions();
      prediction->set_label(labels[c]);
      prediction->set_probability(prob[c]);
      prediction->set_logit(logit[c]);
    }
    response->set_model_version((*snapshot)->version);
    return absl::OkStatus();
  });
}

absl::Status InferenceServiceImpl::DoEmbedImage(const grpc::ServerContext& context,
                                                const v1::EmbedImageRequest& request,
                                                v1::EmbedImageResponse* response) {
  LimitHandlerThreads(core_->handler_intra_op_threads);
  absl::Status status = ValidateEmbedImage(request, core_->limits);
  if (!status.ok()) return status;
  status = core_->CheckReady();
  if (!status.ok()) return status;
  std::vector<Image> images;
  images.reserve(request.images_size());
  const int draft_min_side = core_->host->jpeg_draft_min_side();
  for (int i = 0; i < request.images_size(); ++i) {
    absl::StatusOr<Image> image = DecodeRequestImage(
        request.images(i), core_->limits, absl::StrCat("images[", i, "]"), draft_min_side);
    if (!image.ok()) return image.status();
    images.push_back(*std::move(image));
  }
  absl::StatusOr<torch::Tensor> pixels = Preprocess(images, core_->host->preprocess_options());
  if (!pixels.ok()) return pixels.status();
  const absl::Time deadline = CallDeadline(context);
  absl::StatusOr<std::shared_ptr<const ServedModel>> snapshot =
      Snapshot(request.min_version(), deadline);
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<torch::Tensor> features =
      core_->batcher->EncodeImages(*snapshot, *std::move(pixels), deadline);
  if (!features.ok()) return features.status();
  return CatchTorch("normalizing image embeddings", [&]() -> absl::Status {
    const torch::Tensor unit = torch::nn::functional::normalize(
        *features, torch::nn::functional::NormalizeFuncOptions().dim(-1));
    for (int64_t i = 0; i < unit.size(0); ++i) FillEmbedding(unit[i], response->add_embeddings());
    response->set_model_version((*snapshot)->version);
    return absl::OkStatus();
  });
}

absl::Status InferenceServiceImpl::DoEmbedText(const grpc::ServerContext& context,
                                               const v1::EmbedTextRequest& request,
                                               v1::EmbedTextResponse* response) {
  LimitHandlerThreads(core_->handler_intra_op_threads);
  absl::Status status = ValidateEmbedText(request, core_->limits);
  if (!status.ok()) return status;
  status = core_->CheckReady();
  if (!status.ok()) return status;
  absl::StatusOr<std::shared_ptr<const ServedModel>> snapshot =
      Snapshot(request.min_version(), CallDeadline(context));
  if (!snapshot.ok()) return snapshot.status();
  std::vector<std::string> texts(request.texts().begin(), request.texts().end());
  const QueryBatcher::PendingScope text_work(core_->batcher);
  absl::StatusOr<torch::Tensor> embeddings = core_->host->EmbedTexts(**snapshot, texts);
  if (!embeddings.ok()) return embeddings.status();
  for (int64_t i = 0; i < embeddings->size(0); ++i) {
    FillEmbedding((*embeddings)[i], response->add_embeddings());
  }
  response->set_model_version((*snapshot)->version);
  return absl::OkStatus();
}

grpc::Status InferenceServiceImpl::Classify(grpc::ServerContext* context,
                                            const v1::ClassifyRequest* request,
                                            v1::ClassifyResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  const absl::Time start = absl::Now();
  absl::Status status = DoClassify(*context, *request, response);
  core_->metrics->ObserveQuery("classify", absl::Now() - start);
  return ToGrpcStatus(status);
}

grpc::Status InferenceServiceImpl::EmbedImage(grpc::ServerContext* context,
                                              const v1::EmbedImageRequest* request,
                                              v1::EmbedImageResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  const absl::Time start = absl::Now();
  absl::Status status = DoEmbedImage(*context, *request, response);
  core_->metrics->ObserveQuery("embed_image", absl::Now() - start);
  return ToGrpcStatus(status);
}

grpc::Status InferenceServiceImpl::EmbedText(grpc::ServerContext* context,
                                             const v1::EmbedTextRequest* request,
                                             v1::EmbedTextResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  const absl::Time start = absl::Now();
  absl::Status status = DoEmbedText(*context, *request, response);
  core_->metrics->ObserveQuery("embed_text", absl::Now() - start);
  return ToGrpcStatus(status);
}

}  // namespace perennial

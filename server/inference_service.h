// File: server/inference_service.h
//
// perennial.v1.InferenceService: zero-shot Classify, EmbedImage and EmbedText on the live model
// snapshot (or, with min_version, the first snapshot at least that new, waited for up to the
// call's deadline). Images go through the QueryBatcher; label-set text embeddings come from the
// ModelHost cache. Every response names the version that computed it.
#ifndef PERENNIAL_SERVER_INFERENCE_SERVICE_H_
#define PERENNIAL_SERVER_INFERENCE_SERVICE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "perennial/v1/inference.grpc.pb.h"
#include "server/server_core.h"

namespace perennial {

class InferenceServiceImpl final : public v1::InferenceService::Service {
 public:
  // `core` must outlive the service.
  explicit InferenceServiceImpl(ServerCore* core) : core_(core) {}

  grpc::Status Classify(grpc::ServerContext* context, const v1::ClassifyRequest* request,
                        v1::ClassifyResponse* response) override;
  grpc::Status EmbedImage(grpc::ServerContext* context, const v1::EmbedImageRequest* request,
                          v1::EmbedImageResponse* response) override;
  grpc::Status EmbedText(grpc::ServerContext* context, const v1::EmbedTextRequest* request,
                         v1::EmbedTextResponse* response) override;

 private:
  absl::Status DoClassify(const grpc::ServerContext& context, const v1::ClassifyRequest& request,
                          v1::ClassifyResponse* response);
  absl::Status DoEmbedImage(const grpc::ServerContext& context,
                            const v1::EmbedImageRequest& request, v1::EmbedImageResponse* response);
  absl::Status DoEmbedText(const grpc::ServerContext& context, const v1::EmbedTextRequest& request,
                           v1::EmbedTextResponse* response);
  // The snapshot to answer with: the live one, or for min_version > live the first one at least
  // that new (DEADLINE_EXCEEDED if it does not come in time, FAILED_PRECONDITION if it cannot
  // come because the learner is paused or frozen).
  absl::StatusOr<std::shared_ptr<const ServedModel>> Snapshot(uint64_t min_version,
                                                              absl::Time deadline) const;

  ServerCore* const core_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_INFERENCE_SERVICE_H_

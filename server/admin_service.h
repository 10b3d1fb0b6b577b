// File: server/admin_service.h
//
// perennial.v1.AdminService: status, checkpoints and rollback (through the Checkpointer), label
// sets, zero-shot probes, replay vocabulary, pausing the learner. Bind it to a trusted address.
#ifndef PERENNIAL_SERVER_ADMIN_SERVICE_H_
#define PERENNIAL_SERVER_ADMIN_SERVICE_H_

#include "perennial/v1/admin.grpc.pb.h"
#include "server/server_core.h"

namespace perennial {

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  // `core` must outlive the service.
  explicit AdminServiceImpl(ServerCore* core) : core_(core) {}

  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;
  grpc::Status Checkpoint(grpc::ServerContext* context, const v1::CheckpointRequest* request,
                          v1::CheckpointResponse* response) override;
  grpc::Status ListCheckpoints(grpc::ServerContext* context,
                               const v1::ListCheckpointsRequest* request,
                               v1::ListCheckpointsResponse* response) override;
  grpc::Status Rollback(grpc::ServerContext* context, const v1::RollbackRequest* request,
                        v1::RollbackResponse* response) override;
  grpc::Status SetLabelSet(grpc::ServerContext* context, const v1::SetLabelSetRequest* request,
                           v1::SetLabelSetResponse* response) override;
  grpc::Status SetProbes(grpc::ServerContext* context, const v1::SetProbesRequest* request,
                         v1::SetProbesResponse* response) override;
  grpc::Status AddVocabulary(grpc::ServerContext* context, const v1::AddVocabularyRequest* request,
                             v1::AddVocabularyResponse* response) override;
  grpc::Status PauseLearning(grpc::ServerContext* context, const v1::PauseLearningRequest* request,
                             v1::PauseLearningResponse* response) override;
  grpc::Status ResumeLearning(grpc::ServerContext* context,
                              const v1::ResumeLearningRequest* request,
                              v1::ResumeLearningResponse* response) override;

 private:
  absl::Status DoSetProbes(const grpc::ServerContext& context, const v1::SetProbesRequest& request,
                           v1::SetProbesResponse* response);

  ServerCore* const core_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_ADMIN_SERVICE_H_

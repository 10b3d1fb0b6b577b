// File: server/ingest_service.h
//
// perennial.v1.IngestService: validates every sample (the image is fully decoded, so a corrupt
// file is REJECTED with the decoder's reason), appends the valid ones of each request message
// with one Store::AppendSamples call, and acknowledges them only after that durable append.
// Backpressure: when the backlog (last logged seq - learner cursor) would exceed
// ServerLimits::max_backlog_samples, the samples that do not fit are REJECTED as retryable and
// the response carries retry_after_ms; a call in which nothing could be logged for that reason
// fails with RESOURCE_EXHAUSTED and trailing metadata `retry-after-ms`.
#ifndef PERENNIAL_SERVER_INGEST_SERVICE_H_
#define PERENNIAL_SERVER_INGEST_SERVICE_H_

#include "perennial/v1/ingest.grpc.pb.h"
#include "server/server_core.h"

namespace perennial {

class IngestServiceImpl final : public v1::IngestService::Service {
 public:
  // `core` must outlive the service.
  explicit IngestServiceImpl(ServerCore* core) : core_(core) {}

  grpc::Status Ingest(grpc::ServerContext* context, grpc::ServerReader<v1::IngestRequest>* reader,
                      v1::IngestResponse* response) override;
  grpc::Status IngestBatch(grpc::ServerContext* context, const v1::IngestRequest* request,
                           v1::IngestResponse* response) override;

 private:
  // Handles one request message; results are appended to `response` with indexes from
  // `*next_index`. Sets `*backpressured` when samples were refused for backlog.
  void Process(const v1::IngestRequest& request, uint32_t* next_index, v1::IngestResponse* response,
               bool* backpressured);
  grpc::Status Finish(grpc::ServerContext* context, bool backpressured,
                      v1::IngestResponse* response);

  ServerCore* const core_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_INGEST_SERVICE_H_

#pragma once
// The gRPC face of BatchOperations: bearer-token check, one JSON log line per
// call, absl::Status -> grpc::Status, and no exception or UNKNOWN ever leaving
// a handler. Health and reflection are separate services and need no token.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <string_view>

#include "batchscribe/v1/batch_service.grpc.pb.h"
#include "services/coordinator/auth.h"
#include "services/coordinator/batch_operations.h"

namespace batchscribe::coordinator {

/// Called after every RPC (e.g. to count calls and durations in metrics).
using RpcObserver = std::function<void(std::string_view method, grpc::StatusCode code,
                                       std::chrono::duration<double>)>;

/// absl::Status -> grpc::Status; UNKNOWN becomes INTERNAL, and INTERNAL details
/// stay in the log rather than the response.
grpc::Status ToGrpcStatus(const absl::Status& status);

class BatchServiceImpl final : public v1::BatchService::Service {
 public:
  /// `auth` may be null (no --auth_token_file). Both must outlive the service.
  BatchServiceImpl(BatchOperations& operations, BearerTokenAuthenticator* auth,
                   RpcObserver observer = {});

  grpc::Status SubmitDocuments(grpc::ServerContext* context,
                               const v1::SubmitDocumentsRequest* request,
                               v1::SubmitDocumentsResponse* response) override;
  grpc::Status GetBatch(grpc::ServerContext* context, const v1::GetBatchRequest* request,
                        v1::GetBatchResponse* response) override;
  grpc::Status CancelBatch(grpc::ServerContext* context, const v1::CancelBatchRequest* request,
                           v1::CancelBatchResponse* response) override;
  grpc::Status ListBatches(grpc::ServerContext* context, const v1::ListBatchesRequest* request,
                           v1::ListBatchesResponse* response) override;
  grpc::Status ListDocuments(grpc::ServerContext* context, const v1::ListDocumentsRequest* request,
                             v1::ListDocumentsResponse* response) override;
  grpc::Status WatchBatch(grpc::ServerContext* context, const v1::WatchBatchRequest* request,
                          grpc::ServerWriter<v1::WatchBatchResponse>* writer) override;
  grpc::Status RetryBatch(grpc::ServerContext* context, const v1::RetryBatchRequest* request,
                          v1::RetryBatchResponse* response) override;
  grpc::Status GetCostReport(grpc::ServerContext* context, const v1::GetCostReportRequest* request,
                             v1::GetCostReportResponse* response) override;

 private:
  /// Authenticates, runs `body` (which returns the status and fills the
  /// response), catches everything, logs and observes.
  grpc::Status Handle(grpc::ServerContext* context, std::string_view method,
                      const std::function<absl::Status(std::string& batch_id)>& body);

  BatchOperations& operations_;
  BearerTokenAuthenticator* auth_;
  RpcObserver observer_;
};

}  // namespace batchscribe::coordinator

#include "services/coordinator/grpc_service.h"

#include "libs/common/logging.h"
#include "services/coordinator/resource_names.h"

namespace batchscribe::coordinator {
namespace {

// "INVALID_ARGUMENT" etc.: gRPC and absl share the canonical codes.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// The batch id from a resource name, for log lines; "" when malformed.
std::string BatchIdOf(const std::string& name) {
  auto id = ParseBatchName(name, "name");
  return id.ok() ? *id : "";
}

std::string BatchIdOf(const v1::Batch& batch) { return BatchIdOf(batch.name()); }

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  auto code = static_cast<grpc::StatusCode>(status.code());
  if (code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::INTERNAL ||
      code < grpc::StatusCode::OK || code > grpc::StatusCode::UNAUTHENTICATED) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "internal error; see the coordinator log");
  }
  return grpc::Status(code, std::string(status.message()));
}

BatchServiceImpl::BatchServiceImpl(BatchOperations& operations, BearerTokenAuthenticator* auth,
                                   RpcObserver observer)
    : operations_(operations), auth_(auth), observer_(std::move(observer)) {}

grpc::Status BatchServiceImpl::Handle(
    grpc::ServerContext* context, std::string_view method,
    const std::function<absl::Status(std::string& batch_id)>& body) {
  auto started = std::chrono::steady_clock::now();
  std::string batch_id;
  absl::Status status;
  try {
    if (auth_ != nullptr) {
      std::string_view header;
      const auto& metadata = context->client_metadata();
      if (auto it = metadata.find("authorization"); it != metadata.end()) {
        header = std::string_view(it->second.data(), it->second.size());
      }
      status = auth_->Check(header);
    }
    if (status.ok()) status = body(batch_id);
  } catch (const std::exception& e) {
    status = absl::InternalError(std::string("unexpected exception: ") + e.what());
  } catch (...) {
    status = absl::InternalError("unexpected exception");
  }
  grpc::Status result = ToGrpcStatus(status);
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  nlohmann::json fields = {{"method", method},
                           {"code", CodeName(result.error_code())},
                           {"duration_ms", static_cast<int64_t>(elapsed.count() * 1000)}};
  if (!batch_id.empty()) fields["batch_id"] = batch_id;
  if (!status.ok()) fields["error"] = std::string(status.message());
  if (result.error_code() == grpc::StatusCode::INTERNAL) {
    log::Error("rpc", fields);
  } else {
    log::Info("rpc", fields);
  }
  if (observer_) observer_(method, result.error_code(), elapsed);
  return result;
}

grpc::Status BatchServiceImpl::SubmitDocuments(grpc::ServerContext* context,
                                               const v1::SubmitDocumentsRequest* request,
                                               v1::SubmitDocumentsResponse* response) {
  return Handle(context, "SubmitDocuments", [&](std::string& batch_id) {
    auto result = operations_.SubmitDocuments(*request);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    batch_id = BatchIdOf(response->batch());
    return absl::OkStatus();
  });
}

grpc::Status BatchServiceImpl::GetBatch(grpc::ServerContext* context,
                                        const v1::GetBatchRequest* request,
                                        v1::GetBatchResponse* response) {
  return Handle(context, "GetBatch", [&](std::string& batch_id) {
    batch_id = BatchIdOf(request->name());
    auto result = operations_.GetBatch(*request);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::Status BatchServiceImpl::CancelBatch(grpc::ServerContext* context,
                                           const v1::CancelBatchRequest* request,
                                           v1::CancelBatchResponse* response) {
  return Handle(context, "CancelBatch", [&](std::string& batch_id) {
    batch_id = BatchIdOf(request->name());
    auto result = operations_.CancelBatch(*request);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::Status BatchServiceImpl::ListBatches(grpc::ServerContext* context,
                                           const v1::ListBatchesRequest* request,
                                           v1::ListBatchesResponse* response) {
  return Handle(context, "ListBatches", [&](std::string&) {
    auto result = operations_.ListBatches(*request);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::Status BatchServiceImpl::ListDocuments(grpc::ServerContext* context,
                                             const v1::ListDocumentsRequest* request,
                                             v1::ListDocumentsResponse* response) {
  return Handle(context, "ListDocuments", [&](std::string& batch_id) {
    batch_id = BatchIdOf(request->parent());
    auto result = operations_.ListDocuments(*request);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::Status BatchServiceImpl::WatchBatch(grpc::ServerContext* context,
                                          const v1::WatchBatchRequest* request,
                                          grpc::ServerWriter<v1::WatchBatchResponse>* writer) {
  return Handle(context, "WatchBatch", [&](std::string& batch_id) {
    batch_id = BatchIdOf(request->name());
    return operations_.WatchBatch(
        *request, [&](const v1::WatchBatchResponse& update) { return writer->Write(update); },
        [&] { return context->IsCancelled(); });
  });
}

grpc::Status BatchServiceImpl::RetryBatch(grpc::ServerContext* context,
                                          const v1::RetryBatchRequest* request,
                                          v1::RetryBatchResponse* response) {
  return Handle(context, "RetryBatch", [&](std::string& batch_id) {
    batch_id = BatchIdOf(request->name());
    auto result = operations_.RetryBatch(*request);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::Status BatchServiceImpl::GetCostReport(grpc::ServerContext* context,
                                             const v1::GetCostReportRequest* request,
                                             v1::GetCostReportResponse* response) {
  return Handle(context, "GetCostReport", [&](std::string&) {
    auto result = operations_.GetCostReport(*request);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

}  // namespace batchscribe::coordinator

#pragma once
// OpenAiClient over libcurl. Uploads and downloads stream from and to disk;
// JSON calls have a total timeout, transfers a low-speed limit instead. Every
// reply's x-request-id is logged; the API key is sent only in the
// Authorization header and never logged. Retries follow RetryPolicy with an
// injectable sleeper, random source and clock.
//
// One instance drives one curl handle: use it from one thread at a time
// (make one per worker slot).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "libs/openai/openai_client.h"
#include "libs/openai/retry_policy.h"

namespace batchscribe::openai {

struct ClientOptions {
  /// e.g. "https://api.openai.com/v1" or "http://127.0.0.1:8080/v1".
  std::string base_url = "https://api.openai.com/v1";
  std::string api_key;
  /// Retries after the first attempt (the SDKs' default is 2).
  int max_retries = 2;
  std::chrono::milliseconds connect_timeout{5000};
  /// Total timeout of a JSON call (the SDKs' default is 600 s).
  std::chrono::milliseconds request_timeout{600000};
  /// Uploads and downloads have no total timeout; they fail when slower than
  /// `low_speed_bytes_per_second` for `low_speed_time`.
  std::chrono::seconds low_speed_time{60};
  long low_speed_bytes_per_second = 1024;
  std::string user_agent = "batchscribe/0.1";

  /// Sleeps between retries; default: a real sleep that ends early when
  /// `aborted` turns true.
  std::function<void(std::chrono::milliseconds)> sleep;
  /// Uniform random numbers in [0, 1) for the jitter; default: a seeded PRNG.
  std::function<double()> unit_random;
  /// The wall clock (HTTP-date retry-after); default: system_clock.
  std::function<std::chrono::system_clock::time_point()> now;
  /// Polled during transfers and sleeps: true stops the call with CANCELLED
  /// (lease lost, shutdown). Default: never.
  std::function<bool()> aborted;
  /// Called after every HTTP attempt (for metrics): `path` without the query,
  /// `http_status` 0 when no reply arrived, bytes sent and received.
  std::function<void(std::string_view method, std::string_view path, int http_status,
                     int64_t bytes_sent, int64_t bytes_received)>
      on_response;
};

class CurlOpenAiClient : public OpenAiClient {
 public:
  explicit CurlOpenAiClient(ClientOptions options);
  ~CurlOpenAiClient() override;
  CurlOpenAiClient(const CurlOpenAiClient&) = delete;
  CurlOpenAiClient& operator=(const CurlOpenAiClient&) = delete;

  absl::StatusOr<FileObject> UploadBatchFile(const std::filesystem::path& path,
                                             const std::string& filename) override;
  absl::StatusOr<BatchObject> CreateBatch(const CreateBatchRequest& request) override;
  absl::StatusOr<BatchObject> RetrieveBatch(const std::string& batch_id) override;
  absl::StatusOr<BatchObject> CancelBatch(const std::string& batch_id) override;
  absl::StatusOr<BatchList> ListBatches(const std::string& after, int limit) override;
  absl::Status DownloadFileContent(const std::string& file_id,
                                   const std::filesystem::path& destination) override;
  absl::Status DeleteFile(const std::string& file_id) override;
  absl::StatusOr<nlohmann::json> CreateChatCompletion(const std::string& body) override;

  /// Replaces the abort predicate (a worker slot points it at its current task).
  void set_aborted(std::function<bool()> aborted);

 private:
  struct Call;
  struct Reply;
  absl::StatusOr<Reply> Execute(const Call& call);
  Reply PerformOnce(const Call& call);
  absl::StatusOr<nlohmann::json> ExecuteJson(const Call& call);

  ClientOptions options_;
  RetryPolicy policy_;
  void* curl_;  // CURL*, kept opaque so that users need not include curl.h
};

}  // namespace batchscribe::openai

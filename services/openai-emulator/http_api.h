#pragma once
// The HTTP face of the emulator (cpp-httplib): the OpenAI routes under /v1
// with bearer auth, x-request-id and OpenAI-shaped errors, HTTP faults, and
// the control routes under /_emulator (no auth): health, faults, stats, reset.

#include <absl/status/statusor.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "services/openai-emulator/api_error.h"
#include "services/openai-emulator/emulator.h"
#include "services/openai-emulator/fault_plan.h"

namespace batchscribe::emulator {

struct HttpOptions {
  /// When set, only this bearer token is accepted; else any non-empty one.
  std::string api_key;
  /// Request threads: each open connection holds one while it is kept alive,
  /// and each slow fault response holds one while it sleeps.
  int threads = 128;
};

class ApiServer {
 public:
  ApiServer(Emulator* emulator, HttpOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  /// Binds `host:port`; port 0 picks a free one. Returns the bound port.
  absl::StatusOr<int> Bind(const std::string& host, int port);
  /// Serves until Stop().
  void Serve();
  /// Stops serving and wakes requests sleeping in a delay fault.
  void Stop();

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  void Routes();
  // Runs `handler` for an OpenAI route: request id, auth, faults, accounting.
  void Api(const std::string& route, const httplib::Request& req, httplib::Response& res,
           const httplib::ContentReader* reader, const Handler& handler);
  std::optional<ApiError> CheckAuth(const httplib::Request& req) const;
  // Applies `fault`; true when it replaced the response (error or drop).
  bool ApplyFault(const HttpFault& fault, const httplib::Request& req, httplib::Response& res,
                  const std::string& request_id);
  void Sleep(int64_t ms);

  void UploadFile(const httplib::Request& req, httplib::Response& res,
                  const httplib::ContentReader& reader);
  void ListFiles(const httplib::Request& req, httplib::Response& res);
  void GetFile(const httplib::Request& req, httplib::Response& res);
  void DeleteFile(const httplib::Request& req, httplib::Response& res);
  void FileContent(const httplib::Request& req, httplib::Response& res);
  void CreateBatch(const httplib::Request& req, httplib::Response& res);
  void ListBatches(const httplib::Request& req, httplib::Response& res);
  void GetBatch(const httplib::Request& req, httplib::Response& res);
  void CancelBatch(const httplib::Request& req, httplib::Response& res);
  void ChatCompletions(const httplib::Request& req, httplib::Response& res);

  Emulator* emulator_;
  const HttpOptions options_;
  httplib::Server server_;
  std::atomic<bool> stopping_{false};
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
};

/// Shuts down the TCP connection that carried `req` without answering, so the
/// client sees the connection drop (as when a proxy or the network fails after
/// the server acted). Returns false when the socket was not found.
bool DropConnection(const httplib::Request& req);

}  // namespace batchscribe::emulator

#include "services/openai-emulator/http_api.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "libs/common/logging.h"

namespace batchscribe::emulator {
namespace fs = std::filesystem;

namespace {

constexpr char kJson[] = "application/json";
// Multipart fields other than the file are small; anything larger is abuse.
constexpr size_t kMaxFieldBytes = 64 * 1024;
constexpr size_t kMaxRequestBytes = 2ULL * 1024 * 1024 * 1024;
constexpr size_t kContentChunk = 64 * 1024;

const char kBadGatewayHtml[] =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n";

void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(Dump(body), kJson);
}

void SendError(httplib::Response& res, const ApiError& error) {
  SendJson(res, error.http_status, error.ToBody());
}

template <typename T>
void Send(httplib::Response& res, const ApiResult<T>& result) {
  if (result.ok()) {
    SendJson(res, 200, result.value());
  } else {
    SendError(res, result.error());
  }
}

// Reads and discards a body the handler will not use, so the connection
// stays usable for the next request.
void Drain(const httplib::Request& req, const httplib::ContentReader* reader) {
  if (reader == nullptr) return;
  if (req.is_multipart_form_data()) {
    (*reader)([](const httplib::MultipartFormData&) { return true; },
              [](const char*, size_t) { return true; });
  } else {
    (*reader)([](const char*, size_t) { return true; });
  }
}

int PortOf(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  }
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  }
  return -1;
}

std::optional<int64_t> ParseInt(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  size_t i = text[0] == '-' ? 1 : 0;
  if (i == text.size()) return std::nullopt;
  for (size_t j = i; j < text.size(); ++j) {
    if (text[j] < '0' || text[j] > '9') return std::nullopt;
  }
  return std::stoll(text);
}

// Validates an integer query parameter against [min, max].
ApiResult<int64_t> IntParam(const httplib::Request& req, const std::string& name, int64_t def,
                            int64_t min, int64_t max) {
  if (!req.has_param(name)) return def;
  const std::string raw = req.get_param_value(name);
  auto value = ParseInt(raw);
  if (!value) {
    return InvalidRequest("Invalid '" + name + "': expected an integer, but got '" + raw + "'.",
                          name, "invalid_type");
  }
  if (*value < min) {
    return InvalidRequest("Invalid '" + name +
                              "': integer below minimum value. Expected a value >= " +
                              std::to_string(min) + ", but got " + raw + " instead.",
                          name, "integer_below_min_value");
  }
  if (*value > max) {
    return InvalidRequest("Invalid '" + name +
                              "': integer above maximum value. Expected a value <= " +
                              std::to_string(max) + ", but got " + raw + " instead.",
                          name, "integer_above_max_value");
  }
  return *value;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool DropConnection(const httplib::Request& req) {
  // httplib does not expose the socket to handlers; find it by its ports.
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  bool dropped = false;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    struct stat st {};
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof(local), peer_len = sizeof(peer);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
      continue;
    }
    if (PortOf(local) == req.local_port && PortOf(peer) == req.remote_port) {
      // httplib closes the descriptor itself once its write fails.
      shutdown(static_cast<int>(fd), SHUT_RDWR);
      dropped = true;
      break;
    }
  }
  closedir(dir);
  return dropped;
}

ApiServer::ApiServer(Emulator* emulator, HttpOptions options)
    : emulator_(emulator), options_(std::move(options)) {
  const int threads = std::max(4, options_.threads);
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.set_payload_max_length(kMaxRequestBytes);
  server_.set_read_timeout(60, 0);
  server_.set_write_timeout(60, 0);
  server_.set_keep_alive_max_count(1000);
  server_.set_keep_alive_timeout(5);
  Routes();
}

ApiServer::~ApiServer() { Stop(); }

absl::StatusOr<int> ApiServer::Bind(const std::string& host, int port) {
  if (port == 0) {
    int bound = server_.bind_to_any_port(host);
    if (bound <= 0) return absl::UnavailableError("cannot bind " + host);
    return bound;
  }
  if (!server_.bind_to_port(host, port)) {
    return absl::UnavailableError("cannot bind " + host + ":" + std::to_string(port));
  }
  return port;
}

void ApiServer::Serve() { server_.listen_after_bind(); }

void ApiServer::Stop() {
  stopping_ = true;
  sleep_cv_.notify_all();
  server_.stop();
}

void ApiServer::Sleep(int64_t ms) {
  std::unique_lock<std::mutex> lock(sleep_mu_);
  sleep_cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_.load(); });
}

std::optional<ApiError> ApiServer::CheckAuth(const httplib::Request& req) const {
  const std::string header = req.get_header_value("Authorization");
  std::string token;
  if (header.size() > 7 &&
      (header.compare(0, 7, "Bearer ") == 0 || header.compare(0, 7, "bearer ") == 0)) {
    token = header.substr(7);
    while (!token.empty() && token.front() == ' ') token.erase(token.begin());
  }
  if (token.empty()) {
    return ApiError{401,
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                    "YOUR_KEY), or as the password field (with blank username) if you're "
                    "accessing the API from your browser and are prompted for a username. You "
                    "can obtain an API key from https://platform.openai.com/account/api-keys.",
                    "invalid_request_error", std::nullopt, std::nullopt};
  }
  if (!options_.api_key.empty()) {
    // Constant-time comparison; the key is never echoed back.
    const std::string& want = options_.api_key;
    unsigned char diff = token.size() == want.size() ? 0 : 1;
    for (size_t i = 0; i < token.size(); ++i) {
      diff |= static_cast<unsigned char>(token[i] ^ want[i % want.size()]);
    }
    if (diff != 0) {
      return ApiError{401,
                      "Incorrect API key provided. You can find your API key at "
                      "https://platform.openai.com/account/api-keys.",
                      "invalid_request_error", std::nullopt, "invalid_api_key"};
    }
  }
  return std::nullopt;
}

bool ApiServer::ApplyFault(const HttpFault& fault, const httplib::Request& req,
                           httplib::Response& res, const std::string& request_id) {
  if (fault.delay_ms > 0) Sleep(fault.delay_ms);
  if (fault.action == "delay") {
    emulator_->accounting().CountFault("http:delay");
    return false;
  }
  if (fault.action == "drop") {
    emulator_->accounting().CountFault("http:drop");
    if (!DropConnection(req)) log::Warn("drop fault: socket not found");
    res.status = 500;
    res.set_header("Connection", "close");
    return true;
  }
  emulator_->accounting().CountFault("http:" + std::to_string(fault.status));
  res.status = fault.status;
  if (fault.retry_after) res.set_header("retry-after", *fault.retry_after);
  if (fault.retry_after_ms) res.set_header("retry-after-ms", *fault.retry_after_ms);
  if (fault.should_retry) res.set_header("x-should-retry", *fault.should_retry ? "true" : "false");
  if (fault.body == "html") {
    res.set_content(kBadGatewayHtml, "text/html");
  } else if (fault.body == "cf_bad_gateway") {
    Json body = {{"error",
                  {{"code", fault.status},
                   {"message", "Bad gateway."},
                   {"param", nullptr},
                   {"type", "cf_bad_gateway"}}}};
    res.set_content(Dump(body), kJson);
  } else if (fault.body == "insufficient_quota") {
    res.set_content(Dump(InsufficientQuota().ToBody()), kJson);
  } else if (fault.body == "cannot_find_file") {
    // The real API's answer to a create whose input file it cannot see (also
    // for a few seconds right after the upload): 400, param "file_id".
    Json body = {
        {"error",
         {{"message", "Cannot find file, or organization " + emulator_->options().organization +
                          " does not have access to it."},
          {"type", "invalid_request_error"},
          {"param", "file_id"},
          {"code", nullptr}}}};
    res.set_content(Dump(body), kJson);
  } else if (fault.body == "empty") {
    res.set_content("", "text/plain");
  } else {
    ApiError error;
    if (fault.status == 429) {
      error = RateLimited("requests", emulator_->options().organization);
      const std::string wait = fault.retry_after_ms ? *fault.retry_after_ms + "ms"
                               : fault.retry_after  ? *fault.retry_after + "s"
                                                    : "1s";
      error.message = "Rate limit reached for requests in organization " +
                      emulator_->options().organization +
                      " on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try "
                      "again in " +
                      wait + ".";
      error.type = "requests";
    } else if (fault.status >= 500) {
      error = ServerError(fault.status, request_id);
    } else {
      error = InvalidRequest("The request failed (fault injected by the openai-emulator).");
      error.http_status = fault.status;
    }
    res.set_content(Dump(error.ToBody()), kJson);
  }
  return true;
}

void ApiServer::Api(const std::string& route, const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader* reader, const Handler& handler) {
  const auto start = std::chrono::steady_clock::now();
  const std::string request_id = emulator_->ids().RequestId();
  res.set_header("x-request-id", request_id);
  res.set_header("openai-version", "2020-10-01");
  res.set_header("openai-organization", emulator_->options().organization);
  res.set_header("x-ratelimit-limit-requests", "10000");
  res.set_header("x-ratelimit-remaining-requests", "9999");
  res.set_header("x-ratelimit-reset-requests", "6ms");
  res.set_header("x-ratelimit-limit-tokens", "10000000");
  res.set_header("x-ratelimit-remaining-tokens", "9999000");
  res.set_header("x-ratelimit-reset-tokens", "6ms");
  const std::string method_and_path = req.method + " " + req.path;

  auto run = [&] {
    if (auto error = CheckAuth(req)) {
      Drain(req, reader);
      SendError(res, *error);
      return;
    }
    if (auto fault = emulator_->faults().ForRequest(method_and_path, FaultPhase::kBeforeHandling)) {
      if (fault->action != "drop") Drain(req, reader);
      if (ApplyFault(*fault, req, res, request_id)) return;
    }
    try {
      handler(req, res);
    } catch (const std::exception& e) {
      log::Error("request handler failed", {{"route", route}, {"error", e.what()}});
      SendError(res, ServerError(500, request_id));
    }
    if (auto fault = emulator_->faults().ForRequest(method_and_path, FaultPhase::kAfterHandling)) {
      ApplyFault(*fault, req, res, request_id);
    }
  };
  run();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  res.set_header("openai-processing-ms", std::to_string(ms));
  emulator_->accounting().CountRequest(route, res.status);
  log::Debug("request", {{"method", req.method},
                         {"path", req.path},
                         {"status", res.status},
                         {"request_id", request_id},
                         {"ms", ms}});
}

void ApiServer::Routes() {
  using httplib::ContentReader;
  using httplib::Request;
  using httplib::Response;

  server_.Post("/v1/files", [this](const Request& req, Response& res, const ContentReader& reader) {
    Api("POST /v1/files", req, res, &reader,
        [&](const Request& r, Response& s) { UploadFile(r, s, reader); });
  });
  server_.Get("/v1/files", [this](const Request& req, Response& res) {
    Api("GET /v1/files", req, res, nullptr,
        [this](const Request& r, Response& s) { ListFiles(r, s); });
  });
  server_.Get(R"(/v1/files/([^/]+))", [this](const Request& req, Response& res) {
    Api("GET /v1/files/{id}", req, res, nullptr,
        [this](const Request& r, Response& s) { GetFile(r, s); });
  });
  server_.Delete(R"(/v1/files/([^/]+))", [this](const Request& req, Response& res) {
    Api("DELETE /v1/files/{id}", req, res, nullptr,
        [this](const Request& r, Response& s) { DeleteFile(r, s); });
  });
  server_.Get(R"(/v1/files/([^/]+)/content)", [this](const Request& req, Response& res) {
    Api("GET /v1/files/{id}/content", req, res, nullptr,
        [this](const Request& r, Response& s) { FileContent(r, s); });
  });
  server_.Post("/v1/batches", [this](const Request& req, Response& res) {
    Api("POST /v1/batches", req, res, nullptr,
        [this](const Request& r, Response& s) { CreateBatch(r, s); });
  });
  server_.Get("/v1/batches", [this](const Request& req, Response& res) {
    Api("GET /v1/batches", req, res, nullptr,
        [this](const Request& r, Response& s) { ListBatches(r, s); });
  });
  server_.Get(R"(/v1/batches/([^/]+))", [this](const Request& req, Response& res) {
    Api("GET /v1/batches/{id}", req, res, nullptr,
        [this](const Request& r, Response& s) { GetBatch(r, s); });
  });
  server_.Post(R"(/v1/batches/([^/]+)/cancel)", [this](const Request& req, Response& res) {
    Api("POST /v1/batches/{id}/cancel", req, res, nullptr,
        [this](const Request& r, Response& s) { CancelBatch(r, s); });
  });
  server_.Post("/v1/chat/completions", [this](const Request& req, Response& res) {
    Api("POST /v1/chat/completions", req, res, nullptr,
        [this](const Request& r, Response& s) { ChatCompletions(r, s); });
  });

  // Control routes: no auth, no faults.
  server_.Get("/_emulator/health", [](const Request&, Response& res) {
    SendJson(res, 200, Json{{"status", "ok"}});
  });
  server_.Get("/_emulator/faults", [this](const Request&, Response& res) {
    SendJson(res, 200, emulator_->faults().ToJson());
  });
  server_.Post("/_emulator/faults", [this](const Request& req, Response& res) {
    Json config = ParseJson(req.body);
    if (config.is_discarded()) {
      SendError(res, UnparseableJsonBody());
      return;
    }
    if (auto status = emulator_->faults().Configure(config); !status.ok()) {
      SendError(res, InvalidRequest(std::string(status.message())));
      return;
    }
    emulator_->SaveNow();
    SendJson(res, 200, emulator_->faults().ToJson());
  });
  server_.Delete("/_emulator/faults", [this](const Request&, Response& res) {
    emulator_->faults().Clear();
    emulator_->SaveNow();
    SendJson(res, 200, emulator_->faults().ToJson());
  });
  server_.Get("/_emulator/stats",
              [this](const Request&, Response& res) { SendJson(res, 200, emulator_->Stats()); });
  server_.Post("/_emulator/reset", [this](const Request& req, Response& res) {
    std::string scope = req.has_param("scope") ? req.get_param_value("scope") : "all";
    Json body = ParseJson(req.body);
    if (body.is_object() && body.contains("scope") && body["scope"].is_string()) {
      scope = body["scope"].get<std::string>();
    }
    if (scope != "all" && scope != "stats") {
      SendError(res, InvalidRequest("scope must be 'all' or 'stats'", "scope", "invalid_value"));
      return;
    }
    emulator_->Reset(scope == "stats");
    SendJson(res, 200, Json{{"reset", scope}});
  });

  // Control routes and httplib's own errors get a request id too.
  server_.set_post_routing_handler([this](const Request&, Response& res) {
    if (!res.has_header("x-request-id")) {
      res.set_header("x-request-id", emulator_->ids().RequestId());
    }
  });
  server_.set_error_handler([this](const Request& req, Response& res) {
    if (!res.body.empty() || res.content_length_ > 0) return;
    if (!res.has_header("x-request-id"))
      res.set_header("x-request-id", emulator_->ids().RequestId());
    if (res.status == 404 || res.status == 405) {
      SendError(res, ApiError{404, "Invalid URL (" + req.method + " " + req.path + ")",
                              "invalid_request_error", std::nullopt, std::nullopt});
    } else if (res.status == 413) {
      SendError(res, ApiError{413, "The request is too large.", "invalid_request_error",
                              std::nullopt, std::nullopt});
    } else if (res.status < 500) {
      SendError(res, ApiError{res.status, "The request could not be read.", "invalid_request_error",
                              std::nullopt, std::nullopt});
    } else {
      SendError(res, ServerError(res.status, res.get_header_value("x-request-id")));
    }
  });
  server_.set_exception_handler([this](const Request&, Response& res, std::exception_ptr) {
    SendError(res, ServerError(500, emulator_->ids().RequestId()));
  });
}

// ---- Files -------------------------------------------------------------------

void ApiServer::UploadFile(const httplib::Request& req, httplib::Response& res,
                           const httplib::ContentReader& reader) {
  if (!req.is_multipart_form_data()) {
    Drain(req, &reader);
    SendError(
        res, InvalidRequest("Invalid Content-Type header (" + req.get_header_value("Content-Type") +
                            "), expected multipart/form-data."));
    return;
  }
  const int64_t max_file_bytes = emulator_->options().limits.max_file_bytes;
  FileStore& store = emulator_->files();
  const fs::path temp = store.NewTempPath();
  std::ofstream out;
  std::string current;
  std::string filename;
  int file_parts = 0;
  int64_t bytes = 0;
  bool field_too_large = false;
  bool write_failed = false;
  std::map<std::string, std::string> fields;
  const bool read_ok = reader(
      [&](const httplib::MultipartFormData& part) {
        current = part.name;
        if (part.name == "file") {
          ++file_parts;
          if (file_parts == 1) {
            filename = part.filename;
            out.open(temp, std::ios::binary | std::ios::trunc);
            if (!out) write_failed = true;
          }
        } else {
          fields[part.name];  // present, possibly empty
        }
        return true;
      },
      [&](const char* data, size_t size) {
        if (current == "file") {
          if (file_parts == 1) {
            // Past the limit the rest is only read, so the client gets the 400.
            if (bytes + static_cast<int64_t>(size) <= max_file_bytes && out) {
              out.write(data, static_cast<std::streamsize>(size));
            }
            bytes += static_cast<int64_t>(size);
          }
        } else {
          std::string& value = fields[current];
          if (value.size() + size > kMaxFieldBytes) {
            field_too_large = true;
          } else {
            value.append(data, size);
          }
        }
        return true;
      });
  if (out.is_open()) {
    out.close();
    if (!out) write_failed = true;
  }
  auto fail = [&](const ApiError& error) {
    std::error_code ec;
    fs::remove(temp, ec);
    SendError(res, error);
  };
  if (!read_ok) return fail(InvalidRequest("The multipart/form-data body could not be parsed."));
  if (write_failed) return fail(ServerError(500, res.get_header_value("x-request-id")));
  if (field_too_large) return fail(InvalidRequest("A form field is too large."));
  static const std::set<std::string> kFields = {"purpose", "expires_after[anchor]",
                                                "expires_after[seconds]"};
  for (const auto& [name, value] : fields) {
    if (!kFields.count(name)) {
      return fail(InvalidRequest("Unrecognized request argument supplied: " + name, name,
                                 "unknown_parameter"));
    }
  }
  if (file_parts == 0) return fail(MissingParameter("file"));
  if (file_parts > 1) {
    return fail(InvalidRequest("Expected exactly one 'file' part.", "file", "invalid_value"));
  }
  if (!fields.count("purpose")) return fail(MissingParameter("purpose"));
  const std::string purpose = fields["purpose"];
  static const std::set<std::string> kPurposes = {"assistants", "batch",     "fine-tune",
                                                  "vision",     "user_data", "evals"};
  if (!kPurposes.count(purpose)) {
    return fail(InvalidRequest("'" + purpose +
                                   "' is not one of ['assistants', 'batch', 'fine-tune', "
                                   "'vision', 'user_data', 'evals'] - 'purpose'",
                               "purpose", "invalid_value"));
  }
  std::optional<int64_t> expires_after;
  if (fields.count("expires_after[anchor]") || fields.count("expires_after[seconds]")) {
    if (!fields.count("expires_after[anchor]")) {
      return fail(MissingParameter("expires_after[anchor]"));
    }
    if (fields["expires_after[anchor]"] != "created_at") {
      return fail(InvalidRequest("Invalid value: '" + fields["expires_after[anchor]"] +
                                     "'. Supported values are: 'created_at'.",
                                 "expires_after[anchor]", "invalid_value"));
    }
    if (!fields.count("expires_after[seconds]")) {
      return fail(MissingParameter("expires_after[seconds]"));
    }
    auto seconds = ParseInt(fields["expires_after[seconds]"]);
    if (!seconds) {
      return fail(InvalidRequest("Invalid 'expires_after[seconds]': expected an integer.",
                                 "expires_after[seconds]", "invalid_type"));
    }
    if (*seconds < 3600 || *seconds > 2592000) {
      return fail(InvalidRequest(
          "Invalid 'expires_after[seconds]': expected a value between 3600 and 2592000, but got " +
              std::to_string(*seconds) + " instead.",
          "expires_after[seconds]",
          *seconds < 3600 ? "integer_below_min_value" : "integer_above_max_value"));
    }
    expires_after = *seconds;
  }
  if (purpose == "batch" && !EndsWith(filename, ".jsonl")) {
    return fail(InvalidRequest("Invalid file format for Batch API. Must be .jsonl"));
  }
  const int64_t limit =
      purpose == "batch" ? emulator_->options().limits.max_batch_file_bytes : max_file_bytes;
  if (bytes > limit) return fail(InvalidRequest("File is too large."));
  if (filename.empty()) filename = "upload";
  const int64_t now = emulator_->clock().NowSeconds();
  std::optional<int64_t> expires_at;
  if (expires_after) {
    expires_at = now + *expires_after;
  } else if (purpose == "batch") {
    expires_at = now + 2592000;  // batch inputs expire after 30 days by default
  }
  auto record = store.Adopt(temp, filename, purpose, expires_at);
  if (!record.ok()) {
    log::Error("storing an upload failed", {{"error", std::string(record.status().message())}});
    return fail(ServerError(500, res.get_header_value("x-request-id")));
  }
  emulator_->accounting().FileUploaded(record->bytes);
  emulator_->SaveNow();
  SendJson(res, 200, record->ToApiJson());
}

void ApiServer::ListFiles(const httplib::Request& req, httplib::Response& res) {
  auto limit = IntParam(req, "limit", 10000, 1, 10000);
  if (!limit.ok()) return SendError(res, limit.error());
  const std::string order = req.has_param("order") ? req.get_param_value("order") : "desc";
  if (order != "asc" && order != "desc") {
    return SendError(res, InvalidRequest("Invalid value: '" + order +
                                             "'. Supported values are: 'asc' and 'desc'.",
                                         "order", "invalid_value"));
  }
  const std::string purpose = req.has_param("purpose") ? req.get_param_value("purpose") : "";
  const std::string after = req.has_param("after") ? req.get_param_value("after") : "";
  std::vector<FileRecord> files = emulator_->files().List();
  if (order == "desc") std::reverse(files.begin(), files.end());
  size_t i = 0;
  if (!after.empty()) {
    auto it = std::find_if(files.begin(), files.end(),
                           [&](const FileRecord& f) { return f.id == after; });
    i = it == files.end() ? files.size() : static_cast<size_t>(it - files.begin()) + 1;
  }
  Json data = Json::array();
  bool has_more = false;
  for (; i < files.size(); ++i) {
    if (!purpose.empty() && files[i].purpose != purpose) continue;
    if (static_cast<int64_t>(data.size()) == limit.value()) {
      has_more = true;
      break;
    }
    data.push_back(files[i].ToApiJson());
  }
  Json out = Json::object();
  out["object"] = "list";
  out["data"] = data;
  out["first_id"] = data.empty() ? Json(nullptr) : data.front()["id"];
  out["last_id"] = data.empty() ? Json(nullptr) : data.back()["id"];
  out["has_more"] = has_more;
  SendJson(res, 200, out);
}

void ApiServer::GetFile(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  auto file = emulator_->files().Get(id);
  if (!file) return SendError(res, NoSuchObject("File", id));
  SendJson(res, 200, file->ToApiJson());
}

void ApiServer::DeleteFile(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  if (!emulator_->files().Remove(id)) return SendError(res, NoSuchObject("File", id));
  emulator_->accounting().FileDeleted();
  emulator_->SaveNow();
  SendJson(res, 200, Json{{"id", id}, {"object", "file"}, {"deleted", true}});
}

void ApiServer::FileContent(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  auto file = emulator_->files().Get(id);
  if (!file) return SendError(res, NoSuchObject("File", id));
  // Opened now: a delete after this point does not cut the download short.
  auto in = std::make_shared<std::ifstream>(emulator_->files().PathOf(id), std::ios::binary);
  if (!*in) return SendError(res, NoSuchObject("File", id));
  std::error_code ec;
  const auto size = static_cast<size_t>(fs::file_size(emulator_->files().PathOf(id), ec));
  if (ec) return SendError(res, NoSuchObject("File", id));
  res.status = 200;
  res.set_header("Content-Disposition", "attachment; filename=\"" + file->filename + "\"");
  res.set_content_provider(size, "application/octet-stream",
                           [in](size_t offset, size_t length, httplib::DataSink& sink) {
                             std::string buffer(std::min(length, kContentChunk), '\0');
                             in->clear();
                             in->seekg(static_cast<std::streamoff>(offset));
                             in->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
                             const auto n = static_cast<size_t>(in->gcount());
                             if (n == 0) return false;
                             return sink.write(buffer.data(), n);
                           });
}

// ---- Batches -----------------------------------------------------------------

void ApiServer::CreateBatch(const httplib::Request& req, httplib::Response& res) {
  Json body = ParseJson(req.body);
  if (body.is_discarded()) return SendError(res, UnparseableJsonBody());
  auto result = emulator_->batches().Create(body);
  if (result.ok()) emulator_->SaveNow();
  Send(res, result);
}

void ApiServer::ListBatches(const httplib::Request& req, httplib::Response& res) {
  auto limit = IntParam(req, "limit", 20, 1, 100);
  if (!limit.ok()) return SendError(res, limit.error());
  const std::string after = req.has_param("after") ? req.get_param_value("after") : "";
  Send(res, emulator_->batches().List(limit.value(), after));
}

void ApiServer::GetBatch(const httplib::Request& req, httplib::Response& res) {
  Send(res, emulator_->batches().Get(req.matches[1]));
}

void ApiServer::CancelBatch(const httplib::Request& req, httplib::Response& res) {
  auto result = emulator_->batches().Cancel(req.matches[1]);
  if (result.ok()) emulator_->SaveNow();
  Send(res, result);
}

// ---- Chat Completions ----------------------------------------------------------

void ApiServer::ChatCompletions(const httplib::Request& req, httplib::Response& res) {
  Json body = ParseJson(req.body);
  if (body.is_discarded()) return SendError(res, UnparseableJsonBody());
  Completion completion = emulator_->completer().Complete(body);
  if (completion.status_code == 200) {
    emulator_->accounting().TokensBilled(completion.model, "sync", completion.prompt_tokens,
                                         completion.completion_tokens);
  }
  SendJson(res, completion.status_code, completion.body);
}

}  // namespace batchscribe::emulator

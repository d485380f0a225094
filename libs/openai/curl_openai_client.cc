#include "libs/openai/curl_openai_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "libs/common/logging.h"
#include "libs/openai/api_error.h"

namespace batchscribe::openai {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr size_t kMaxErrorBody = 64 * 1024;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string Trim(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  return text.substr(start);
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Connect-phase failures: the request never reached the server.
bool IsConnectFailure(CURLcode code) {
  return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
         code == CURLE_COULDNT_RESOLVE_PROXY;
}

// Fills type/code/param/message from an error body; tolerates HTML pages and
// numeric codes (a CDN's 502).
void ParseErrorBody(const std::string& body, ApiError& error) {
  auto parsed = json::parse(body, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object()) {
    auto it = parsed.find("error");
    if (it != parsed.end() && it->is_object()) {
      auto text = [&](const char* key) -> std::string {
        auto f = it->find(key);
        if (f == it->end() || f->is_null()) return "";
        return f->is_string() ? f->get<std::string>() : f->dump();
      };
      error.type = text("type");
      error.code = text("code");
      error.param = text("param");
      error.message = text("message");
      return;
    }
    if (it != parsed.end() && it->is_string()) {
      error.message = it->get<std::string>();
      return;
    }
  }
  std::string snippet = body.substr(0, 200);
  for (char& c : snippet) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  error.message = body.empty() ? "empty body" : "non-JSON body: " + Trim(snippet);
}

struct DownloadSink {
  CURL* curl = nullptr;
  FILE* file = nullptr;
  std::string* error_body = nullptr;
  bool failed_write = false;
  int64_t bytes = 0;
};

size_t WriteToString(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  out->append(data, size * count);
  return size * count;
}

size_t AppendToDownload(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<DownloadSink*>(user);
  size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300 || status == 0) {
    // An error reply: keep its (small) body for the error message.
    if (sink->error_body->size() < kMaxErrorBody) sink->error_body->append(data, n);
    return n;
  }
  if (std::fwrite(data, 1, n, sink->file) != n) {
    sink->failed_write = true;
    return 0;
  }
  sink->bytes += static_cast<int64_t>(n);
  return n;
}

size_t CollectHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<Headers*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new reply (after 100 Continue or a redirect)
    return size * count;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    (*headers)[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
  }
  return size * count;
}

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* aborted = static_cast<std::function<bool()>*>(user);
  return (*aborted && (*aborted)()) ? 1 : 0;
}

}  // namespace

struct CurlOpenAiClient::Call {
  std::string method;  // GET POST DELETE
  std::string path;    // relative to base_url, e.g. "/batches"
  std::optional<std::string> json_body;
  std::optional<fs::path> upload_path;  // multipart purpose=batch + file
  std::string upload_filename;
  std::optional<fs::path> download_path;
  bool idempotent = true;
};

struct CurlOpenAiClient::Reply {
  CURLcode curl_code = CURLE_OK;
  std::string curl_error;
  long http_status = 0;
  Headers headers;
  std::string body;
  int64_t downloaded_bytes = 0;
};

CurlOpenAiClient::CurlOpenAiClient(ClientOptions options)
    : options_(std::move(options)), policy_(options_.max_retries) {
  GlobalInit();
  curl_ = curl_easy_init();
  while (!options_.base_url.empty() && options_.base_url.back() == '/') {
    options_.base_url.pop_back();
  }
  if (!options_.unit_random) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    options_.unit_random = [rng] { return std::uniform_real_distribution<double>(0, 1)(*rng); };
  }
  if (!options_.now) options_.now = [] { return std::chrono::system_clock::now(); };
  if (!options_.sleep) {
    options_.sleep = [this](std::chrono::milliseconds delay) {
      auto until = std::chrono::steady_clock::now() + delay;
      while (std::chrono::steady_clock::now() < until) {
        if (options_.aborted && options_.aborted()) return;
        auto left = until - std::chrono::steady_clock::now();
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(100)));
      }
    };
  }
}

CurlOpenAiClient::~CurlOpenAiClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

void CurlOpenAiClient::set_aborted(std::function<bool()> aborted) {
  options_.aborted = std::move(aborted);
}

CurlOpenAiClient::Reply CurlOpenAiClient::PerformOnce(const Call& call) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  Reply reply;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  std::string url = options_.base_url + call.path;

  curl_slist* headers = nullptr;
  std::string auth = "Authorization: Bearer " + options_.api_key;
  headers = curl_slist_append(headers, auth.c_str());
  headers = curl_slist_append(
      headers, call.download_path ? "Accept: application/binary" : "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");
  if (call.json_body) headers = curl_slist_append(headers, "Content-Type: application/json");

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, Progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &options_.aborted);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");

  if (!call.idempotent) {
    // libcurl silently re-sends a request whose reused connection dies before
    // any reply byte arrives. For a create that may have run, that would be a
    // second OpenAI batch: use a connection of its own, which is never re-sent.
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  }
  bool transfer = call.upload_path || call.download_path;
  if (transfer) {
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes_per_second);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(options_.low_speed_time.count()));
  } else {
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  }

  curl_mime* mime = nullptr;
  if (call.upload_path) {
    mime = curl_mime_init(curl);
    curl_mimepart* purpose = curl_mime_addpart(mime);
    curl_mime_name(purpose, "purpose");
    curl_mime_data(purpose, "batch", CURL_ZERO_TERMINATED);
    curl_mimepart* file = curl_mime_addpart(mime);
    curl_mime_name(file, "file");
    curl_mime_filedata(file, call.upload_path->c_str());  // streamed from disk by libcurl
    curl_mime_filename(file, call.upload_filename.c_str());
    curl_mime_type(file, "application/jsonl");
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
  } else if (call.json_body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.json_body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(call.json_body->size()));
  } else if (call.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
  }
  if (call.method == "DELETE") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");

  DownloadSink sink;
  fs::path part;
  if (call.download_path) {
    // A unique temporary name: a zombie worker may download the same file.
    part = call.download_path->string() + ".part." + std::to_string(getpid()) + "." +
           std::to_string(static_cast<uint64_t>(options_.unit_random() * 1e12));
    sink.curl = curl;
    sink.error_body = &reply.body;
    sink.file = std::fopen(part.c_str(), "wb");
    if (sink.file == nullptr) {
      curl_slist_free_all(headers);
      reply.curl_code = CURLE_WRITE_ERROR;
      reply.curl_error = "cannot create " + part.string();
      return reply;
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendToDownload);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  } else {
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteToString);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  }

  reply.curl_code = curl_easy_perform(curl);
  if (reply.curl_code != CURLE_OK) {
    reply.curl_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(reply.curl_code);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.http_status);
  curl_slist_free_all(headers);
  if (mime != nullptr) curl_mime_free(mime);

  if (call.download_path) {
    bool ok = reply.curl_code == CURLE_OK && reply.http_status >= 200 && reply.http_status < 300;
    if (ok && (std::fflush(sink.file) != 0 || fsync(fileno(sink.file)) != 0)) {
      reply.curl_code = CURLE_WRITE_ERROR;
      reply.curl_error = "cannot write " + part.string();
      ok = false;
    }
    std::fclose(sink.file);
    std::error_code ec;
    if (ok) {
      fs::rename(part, *call.download_path, ec);
      if (ec) {
        reply.curl_code = CURLE_WRITE_ERROR;
        reply.curl_error = "cannot rename " + part.string() + ": " + ec.message();
      }
    } else {
      fs::remove(part, ec);
    }
    if (sink.failed_write && reply.curl_error.empty()) reply.curl_error = "disk write failed";
    reply.downloaded_bytes = sink.bytes;
  }
  return reply;
}

absl::StatusOr<CurlOpenAiClient::Reply> CurlOpenAiClient::Execute(const Call& call) {
  for (int retries = 0;; ++retries) {
    if (options_.aborted && options_.aborted()) {
      return absl::CancelledError("OpenAI call abandoned: the task was stopped");
    }
    auto started = std::chrono::steady_clock::now();
    Reply reply = PerformOnce(call);
    if (options_.on_response) {
      curl_off_t sent = 0;
      curl_off_t received = 0;
      curl_easy_getinfo(static_cast<CURL*>(curl_), CURLINFO_SIZE_UPLOAD_T, &sent);
      curl_easy_getinfo(static_cast<CURL*>(curl_), CURLINFO_SIZE_DOWNLOAD_T, &received);
      std::string_view path(call.path);
      path = path.substr(0, path.find('?'));
      options_.on_response(call.method, path,
                           reply.curl_code == CURLE_OK ? static_cast<int>(reply.http_status) : 0,
                           sent, received);
    }
    auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
    std::string request_id;
    if (auto it = reply.headers.find("x-request-id"); it != reply.headers.end()) {
      request_id = it->second;
    }
    bool transport_error = reply.curl_code != CURLE_OK;
    if (!transport_error && reply.http_status >= 200 && reply.http_status < 300) {
      nlohmann::json fields = {
          {"method", call.method},    {"path", call.path}, {"status", reply.http_status},
          {log::kOpenAiRequestId, request_id}, {"ms", elapsed_ms},  {"retries", retries}};
      // Calls that change something are worth a line each; polls are frequent.
      if (call.method == "GET" && !call.download_path) {
        log::Debug("openai call", fields);
      } else {
        log::Info("openai call", fields);
      }
      return reply;
    }
    if (reply.curl_code == CURLE_ABORTED_BY_CALLBACK) {
      ApiError error;
      error.message = "call abandoned: the task was stopped";
      error.unknown_outcome = true;
      absl::Status status = MakeStatus(error);
      return absl::Status(absl::StatusCode::kCancelled, status.message());
    }

    ApiError error;
    error.request_id = request_id;
    AttemptResult attempt;
    attempt.transport_error = transport_error;
    if (transport_error) {
      error.http_status = 0;
      error.message = reply.curl_error;
      // A request that never connected did not run; any later failure may
      // have happened after the server acted on it.
      error.unknown_outcome = !IsConnectFailure(reply.curl_code);
    } else {
      error.http_status = static_cast<int>(reply.http_status);
      ParseErrorBody(reply.body, error);
      attempt.http_status = error.http_status;
      attempt.headers = reply.headers;
      attempt.error_code = error.code;
      error.retry_after = ServerRetryDelay(reply.headers, options_.now());
      error.unknown_outcome =
          error.http_status >= 500 || error.http_status == 408 || error.http_status == 409;
    }

    std::optional<std::chrono::milliseconds> delay =
        policy_.NextDelay(attempt, retries, options_.unit_random(), options_.now());
    bool may_resend = call.idempotent || !error.unknown_outcome;
    nlohmann::json fields = {
        {"method", call.method}, {"path", call.path},      {"status", error.http_status},
        {"code", error.code},    {"error", error.message}, {log::kOpenAiRequestId, request_id},
        {"ms", elapsed_ms},      {"retries", retries}};
    if (!delay || !may_resend) {
      log::Warn("openai call failed", fields);
      return MakeStatus(error);
    }
    fields["retry_in_ms"] = delay->count();
    log::Warn("openai call failed, retrying", fields);
    options_.sleep(*delay);
  }
}

absl::StatusOr<nlohmann::json> CurlOpenAiClient::ExecuteJson(const Call& call) {
  auto reply = Execute(call);
  if (!reply.ok()) return reply.status();
  auto parsed = json::parse(reply->body, nullptr, false);
  if (parsed.is_discarded()) {
    ApiError error;
    error.http_status = static_cast<int>(reply->http_status);
    error.message = "reply is not JSON";
    if (auto it = reply->headers.find("x-request-id"); it != reply->headers.end()) {
      error.request_id = it->second;
    }
    return absl::Status(absl::StatusCode::kInternal, MakeStatus(error).message());
  }
  return parsed;
}

absl::StatusOr<FileObject> CurlOpenAiClient::UploadBatchFile(const fs::path& path,
                                                             const std::string& filename) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError("batch input file missing: " + path.string());
  }
  Call call;
  call.method = "POST";
  call.path = "/files";
  call.upload_path = path;
  call.upload_filename = filename;
  call.idempotent = true;  // a repeated upload only makes another file
  auto json = ExecuteJson(call);
  if (!json.ok()) return json.status();
  return FileObject::FromJson(*json);
}

absl::StatusOr<BatchObject> CurlOpenAiClient::CreateBatch(const CreateBatchRequest& request) {
  json body = {{"input_file_id", request.input_file_id},
               {"endpoint", request.endpoint},
               {"completion_window", request.completion_window}};
  if (!request.metadata.empty()) body["metadata"] = request.metadata;
  Call call;
  call.method = "POST";
  call.path = "/batches";
  call.json_body = body.dump();
  call.idempotent = false;
  auto json = ExecuteJson(call);
  if (!json.ok()) return json.status();
  return BatchObject::FromJson(*json);
}

absl::StatusOr<BatchObject> CurlOpenAiClient::RetrieveBatch(const std::string& batch_id) {
  Call call;
  call.method = "GET";
  call.path = "/batches/" + UrlEncode(batch_id);
  auto json = ExecuteJson(call);
  if (!json.ok()) return json.status();
  return BatchObject::FromJson(*json);
}

absl::StatusOr<BatchObject> CurlOpenAiClient::CancelBatch(const std::string& batch_id) {
  Call call;
  call.method = "POST";
  call.path = "/batches/" + UrlEncode(batch_id) + "/cancel";
  call.idempotent = true;  // cancelling twice is harmless
  auto json = ExecuteJson(call);
  if (!json.ok()) return json.status();
  return BatchObject::FromJson(*json);
}

absl::StatusOr<BatchList> CurlOpenAiClient::ListBatches(const std::string& after, int limit) {
  Call call;
  call.method = "GET";
  call.path = "/batches?limit=" + std::to_string(std::clamp(limit, 1, 100));
  if (!after.empty()) call.path += "&after=" + UrlEncode(after);
  auto json = ExecuteJson(call);
  if (!json.ok()) return json.status();
  return BatchList::FromJson(*json);
}

absl::Status CurlOpenAiClient::DownloadFileContent(const std::string& file_id,
                                                   const fs::path& destination) {
  Call call;
  call.method = "GET";
  call.path = "/files/" + UrlEncode(file_id) + "/content";
  call.download_path = destination;
  auto reply = Execute(call);
  if (!reply.ok()) return reply.status();
  log::Debug("openai file downloaded", {{"file_id", file_id}, {"bytes", reply->downloaded_bytes}});
  return absl::OkStatus();
}

absl::Status CurlOpenAiClient::DeleteFile(const std::string& file_id) {
  Call call;
  call.method = "DELETE";
  call.path = "/files/" + UrlEncode(file_id);
  auto reply = Execute(call);
  return reply.ok() ? absl::OkStatus() : reply.status();
}

absl::StatusOr<nlohmann::json> CurlOpenAiClient::CreateChatCompletion(const std::string& body) {
  Call call;
  call.method = "POST";
  call.path = "/chat/completions";
  call.json_body = body;
  call.idempotent = true;  // a repeated completion is paid again but has no other effect
  return ExecuteJson(call);
}

}  // namespace batchscribe::openai

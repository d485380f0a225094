#include "services/openai-emulator/batch_engine.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <unordered_set>

#include "libs/common/logging.h"
#include "services/openai-emulator/model_catalog.h"

namespace batchscribe::emulator {
namespace fs = std::filesystem;

namespace {

// An answer that the same request line would get again: a request error other
// than 429, or a 200 that ended in length, content_filter or a refusal.
// Transient answers (5xx, 429, status 0) and garbled lines are not.
bool IsDeterministicAnswer(const Json& response) {
  const int status = response.value("status_code", 0);
  if (status == 429 || status == 0 || status >= 500) return false;
  if (status >= 400) return true;
  const Json& body = response.contains("body") ? response["body"] : Json();
  if (!body.is_object() || !body.contains("choices") || !body["choices"].is_array() ||
      body["choices"].empty()) {
    return false;
  }
  const Json& choice = body["choices"][0];
  const std::string reason = choice.contains("finish_reason") && choice["finish_reason"].is_string()
                                 ? choice["finish_reason"].get<std::string>()
                                 : "";
  if (reason == "length" || reason == "content_filter") return true;
  return choice.contains("message") && choice["message"].is_object() &&
         choice["message"].contains("refusal") && choice["message"]["refusal"].is_string();
}

constexpr int64_t kMaxLinesPerUnit = 64;
constexpr int64_t kDefaultOutputExpirySeconds = 30LL * 86400;
constexpr size_t kMaxReportedErrors = 100;
constexpr char kChatCompletions[] = "/v1/chat/completions";

const std::set<std::string>& Endpoints() {
  static const std::set<std::string> endpoints = {
      "/v1/responses",   "/v1/chat/completions",   "/v1/embeddings",   "/v1/completions",
      "/v1/moderations", "/v1/images/generations", "/v1/images/edits", "/v1/videos"};
  return endpoints;
}

Json OptionalInt(const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); }
Json OptionalString(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }
std::optional<int64_t> ReadOptionalInt(const Json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<int64_t>();
}
std::optional<std::string> ReadOptionalString(const Json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<std::string>();
}

Json BatchError(const std::string& code, const std::string& message,
                const std::optional<std::string>& param, std::optional<int64_t> line) {
  Json e = Json::object();
  e["code"] = code;
  e["message"] = message;
  e["param"] = OptionalString(param);
  e["line"] = OptionalInt(line);
  return e;
}

bool IsBlank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

bool IsTerminal(const std::string& status) {
  return status == "completed" || status == "failed" || status == "expired" ||
         status == "cancelled";
}

// Reads request lines from a JSONL file, skipping blank ones, tracking the
// byte offset so work can resume mid-file.
class LineReader {
 public:
  LineReader(const fs::path& path, int64_t offset) : in_(path, std::ios::binary), offset_(offset) {
    if (in_) in_.seekg(offset);
  }
  bool is_open() const { return in_.is_open(); }
  bool Next(std::string& line) {
    while (std::getline(in_, line)) {
      offset_ += static_cast<int64_t>(line.size()) + (in_.eof() ? 0 : 1);
      ++line_number_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!IsBlank(line)) return true;
    }
    return false;
  }
  int64_t offset() const { return offset_; }
  /// 1-based number of the last line read, counted from where reading began.
  int64_t line_number() const { return line_number_; }

 private:
  std::ifstream in_;
  int64_t offset_;
  int64_t line_number_ = 0;
};

uint64_t HashString(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// A line whose JSON was cut, like the unparseable lines seen in real output
// files; the custom_id stays readable so clients can salvage it.
std::string Garble(const std::string& text) {
  size_t cut = text.size() / 2;
  const size_t response = text.find("\"response\"");
  if (response != std::string::npos) cut = std::max(cut, response + 12);
  return text.substr(0, std::min(cut, text.size() - 1));
}

}  // namespace

// ---- Batch object ----------------------------------------------------------

Json BatchEngine::Batch::ToApiJson() const {
  Json out = Json::object();
  out["id"] = id;
  out["object"] = "batch";
  out["endpoint"] = endpoint;
  out["model"] = OptionalString(model);
  out["errors"] = errors;
  out["input_file_id"] = input_file_id;
  out["completion_window"] = completion_window;
  out["status"] = status;
  out["output_file_id"] = OptionalString(output_file_id);
  out["error_file_id"] = OptionalString(error_file_id);
  out["created_at"] = created_at;
  out["in_progress_at"] = OptionalInt(in_progress_at);
  out["expires_at"] = OptionalInt(expires_at);
  out["finalizing_at"] = OptionalInt(finalizing_at);
  out["completed_at"] = OptionalInt(completed_at);
  out["failed_at"] = OptionalInt(failed_at);
  out["expired_at"] = OptionalInt(expired_at);
  out["cancelling_at"] = OptionalInt(cancelling_at);
  out["cancelled_at"] = OptionalInt(cancelled_at);
  out["request_counts"] = {{"total", total}, {"completed", completed}, {"failed", failed}};
  out["usage"] = {{"input_tokens", input_tokens},
                  {"input_tokens_details", {{"cached_tokens", 0}}},
                  {"output_tokens", output_tokens},
                  {"output_tokens_details", {{"reasoning_tokens", reasoning_tokens}}},
                  {"total_tokens", input_tokens + output_tokens}};
  out["metadata"] = metadata;
  return out;
}

Json BatchEngine::Batch::ToStateJson() const {
  Json out = ToApiJson();
  out["output_expires_after"] = output_expires_after;
  out["progress"] = {{"sequence", sequence},
                     {"phase_due_ms", phase_due_ms},
                     {"in_progress_started_ms", in_progress_started_ms},
                     {"expire_at_ms", expire_at_ms},
                     {"request_model", request_model},
                     {"enqueued_tokens", enqueued_tokens},
                     {"validated", validated},
                     {"next_line", next_line},
                     {"next_offset", next_offset},
                     {"ok_bytes", ok_bytes},
                     {"err_bytes", err_bytes},
                     {"ok_lines", ok_lines},
                     {"err_lines", err_lines},
                     {"faults", faults.ToJson()}};
  return out;
}

BatchEngine::Batch BatchEngine::Batch::FromStateJson(const Json& j) {
  Batch b;
  b.id = j.at("id").get<std::string>();
  b.endpoint = j.at("endpoint").get<std::string>();
  b.input_file_id = j.at("input_file_id").get<std::string>();
  b.completion_window = j.at("completion_window").get<std::string>();
  b.status = j.at("status").get<std::string>();
  b.model = ReadOptionalString(j, "model");
  b.errors = j.value("errors", Json());
  b.output_file_id = ReadOptionalString(j, "output_file_id");
  b.error_file_id = ReadOptionalString(j, "error_file_id");
  b.created_at = j.at("created_at").get<int64_t>();
  b.in_progress_at = ReadOptionalInt(j, "in_progress_at");
  b.expires_at = ReadOptionalInt(j, "expires_at");
  b.finalizing_at = ReadOptionalInt(j, "finalizing_at");
  b.completed_at = ReadOptionalInt(j, "completed_at");
  b.failed_at = ReadOptionalInt(j, "failed_at");
  b.expired_at = ReadOptionalInt(j, "expired_at");
  b.cancelling_at = ReadOptionalInt(j, "cancelling_at");
  b.cancelled_at = ReadOptionalInt(j, "cancelled_at");
  const Json& counts = j.at("request_counts");
  b.total = counts.at("total").get<int64_t>();
  b.completed = counts.at("completed").get<int64_t>();
  b.failed = counts.at("failed").get<int64_t>();
  const Json& usage = j.at("usage");
  b.input_tokens = usage.at("input_tokens").get<int64_t>();
  b.output_tokens = usage.at("output_tokens").get<int64_t>();
  b.reasoning_tokens = usage.at("output_tokens_details").at("reasoning_tokens").get<int64_t>();
  b.metadata = j.value("metadata", Json());
  b.output_expires_after = j.value("output_expires_after", Json());
  const Json& p = j.at("progress");
  b.sequence = p.at("sequence").get<int64_t>();
  b.phase_due_ms = p.at("phase_due_ms").get<int64_t>();
  b.in_progress_started_ms = p.at("in_progress_started_ms").get<int64_t>();
  b.expire_at_ms = p.at("expire_at_ms").get<int64_t>();
  b.request_model = p.at("request_model").get<std::string>();
  b.enqueued_tokens = p.at("enqueued_tokens").get<int64_t>();
  b.validated = p.at("validated").get<bool>();
  b.next_line = p.at("next_line").get<int64_t>();
  b.next_offset = p.at("next_offset").get<int64_t>();
  b.ok_bytes = p.at("ok_bytes").get<int64_t>();
  b.err_bytes = p.at("err_bytes").get<int64_t>();
  b.ok_lines = p.at("ok_lines").get<int64_t>();
  b.err_lines = p.at("err_lines").get<int64_t>();
  b.faults = BatchFaults::FromJson(p.value("faults", Json()));
  return b;
}

// ---- API -------------------------------------------------------------------

BatchEngine::BatchEngine(const EmulatorOptions& options, fs::path work_dir, FileStore* files,
                         ChatCompleter* completer, FaultPlan* faults, Accounting* accounting,
                         IdGenerator* ids, const Clock* clock)
    : options_(options),
      work_dir_(std::move(work_dir)),
      files_(files),
      completer_(completer),
      faults_(faults),
      accounting_(accounting),
      ids_(ids),
      clock_(clock) {}

fs::path BatchEngine::BatchDir(const std::string& id) const { return work_dir_ / id; }

void BatchEngine::SetChangeListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  on_change_ = std::move(listener);
}

void BatchEngine::Changed() {
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = on_change_;
  }
  if (listener) listener();
}

ApiResult<Json> BatchEngine::Create(const Json& request) {
  if (!request.is_object()) return InvalidType("body", "an object", request);
  static const std::set<std::string> kKnown = {"input_file_id", "endpoint", "completion_window",
                                               "metadata", "output_expires_after"};
  for (const auto& [key, value] : request.items()) {
    if (!kKnown.count(key)) {
      return InvalidRequest("Unrecognized request argument supplied: " + key, key,
                            "unknown_parameter");
    }
  }
  for (const char* key : {"input_file_id", "endpoint", "completion_window"}) {
    if (!request.contains(key) || request[key].is_null()) return MissingParameter(key);
    if (!request[key].is_string()) return InvalidType(key, "a string", request[key]);
  }
  const std::string endpoint = request["endpoint"].get<std::string>();
  if (!Endpoints().count(endpoint)) {
    std::string supported;
    for (const auto& e : Endpoints()) supported += (supported.empty() ? "'" : ", '") + e + "'";
    return InvalidRequest(
        "Invalid value: '" + endpoint + "'. Supported values are: " + supported + ".", "endpoint",
        "invalid_value");
  }
  const std::string window = request["completion_window"].get<std::string>();
  if (window != "24h") {
    return InvalidRequest("Invalid value: '" + window + "'. Supported values are: '24h'.",
                          "completion_window", "invalid_value");
  }
  Json metadata = request.value("metadata", Json());
  if (!metadata.is_null()) {
    if (!metadata.is_object()) return InvalidType("metadata", "an object", metadata);
    if (metadata.size() > 16) {
      return InvalidRequest(
          "Invalid 'metadata': too many properties. Expected an object with at most 16 "
          "properties, but got an object with " +
              std::to_string(metadata.size()) + " properties instead.",
          "metadata", "object_above_max_properties");
    }
    for (const auto& [key, value] : metadata.items()) {
      if (key.size() > 64) {
        return InvalidRequest(
            "Invalid 'metadata': string too long. Expected a key with maximum length 64, but got "
            "a key with length " +
                std::to_string(key.size()) + " instead.",
            "metadata", "string_above_max_length");
      }
      if (!value.is_string()) return InvalidType("metadata." + key, "a string", value);
      if (value.get_ref<const std::string&>().size() > 512) {
        return InvalidRequest(
            "Invalid 'metadata." + key +
                "': string too long. Expected a string with maximum length 512, but got a string "
                "with length " +
                std::to_string(value.get_ref<const std::string&>().size()) + " instead.",
            "metadata." + key, "string_above_max_length");
      }
    }
  }
  Json output_expires_after = request.value("output_expires_after", Json());
  if (!output_expires_after.is_null()) {
    if (!output_expires_after.is_object()) {
      return InvalidType("output_expires_after", "an object", output_expires_after);
    }
    if (!output_expires_after.contains("anchor")) {
      return MissingParameter("output_expires_after.anchor");
    }
    if (output_expires_after["anchor"] != "created_at") {
      return InvalidRequest("Invalid value: " + Dump(output_expires_after["anchor"]) +
                                ". Supported values are: 'created_at'.",
                            "output_expires_after.anchor", "invalid_value");
    }
    if (!output_expires_after.contains("seconds")) {
      return MissingParameter("output_expires_after.seconds");
    }
    const Json& seconds = output_expires_after["seconds"];
    if (!seconds.is_number_integer()) {
      return InvalidType("output_expires_after.seconds", "an integer", seconds);
    }
    if (seconds.get<int64_t>() < 3600) {
      return InvalidRequest(
          "Invalid 'output_expires_after.seconds': integer below minimum value. Expected a value "
          ">= 3600, but got " +
              Dump(seconds) + " instead.",
          "output_expires_after.seconds", "integer_below_min_value");
    }
    if (seconds.get<int64_t>() > 2592000) {
      return InvalidRequest(
          "Invalid 'output_expires_after.seconds': integer above maximum value. Expected a value "
          "<= 2592000, but got " +
              Dump(seconds) + " instead.",
          "output_expires_after.seconds", "integer_above_max_value");
    }
  }
  const std::string input_file_id = request["input_file_id"].get<std::string>();
  auto file = files_->Get(input_file_id);
  if (!file) {
    ApiError e = NoSuchObject("File", input_file_id);
    e.param = "input_file_id";
    return e;
  }
  if (file->purpose != "batch") {
    return InvalidRequest("Invalid 'input_file_id': " + input_file_id + " has purpose '" +
                              file->purpose + "', but a batch needs a file with purpose 'batch'.",
                          "input_file_id", "invalid_value");
  }

  Batch batch;
  batch.id = ids_->BatchId();
  // The batch keeps its own link to the input: deleting the file later must
  // not disturb a batch that is running, as at OpenAI.
  std::error_code ec;
  const fs::path dir = BatchDir(batch.id);
  fs::create_directories(dir, ec);
  fs::create_hard_link(files_->PathOf(input_file_id), dir / "input.jsonl", ec);
  if (ec) {
    ec.clear();
    fs::copy_file(files_->PathOf(input_file_id), dir / "input.jsonl", ec);
  }
  if (ec) {
    log::Error("linking a batch input failed", {{"batch", batch.id}, {"error", ec.message()}});
    return ServerError(500, ids_->RequestId());
  }

  const int64_t now_ms = clock_->NowMs();
  batch.endpoint = endpoint;
  batch.input_file_id = input_file_id;
  batch.completion_window = window;
  batch.status = "validating";
  batch.created_at = now_ms / 1000;
  batch.expire_at_ms = now_ms + options_.timings.expire_after_ms;
  batch.expires_at = batch.created_at + (options_.timings.expire_after_ms + 999) / 1000;
  batch.phase_due_ms = now_ms + options_.timings.validate_ms;
  batch.metadata = metadata;
  batch.output_expires_after = output_expires_after;
  batch.faults = faults_->ForNewBatch(metadata);
  Json api;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.sequence = next_sequence_++;
    accounting_->BatchCreated(batch.id, metadata, input_file_id, batch.created_at);
    api = batch.ToApiJson();
    batches_[batch.id] = std::move(batch);
  }
  Wake();
  return api;
}

ApiResult<Json> BatchEngine::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return NoSuchObject("Batch", id);
  return it->second.ToApiJson();
}

std::optional<std::string> BatchEngine::StatusOf(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return std::nullopt;
  return it->second.status;
}

ApiResult<Json> BatchEngine::List(int64_t limit, const std::string& after) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const Batch*> ordered;
  ordered.reserve(batches_.size());
  for (const auto& [id, b] : batches_) ordered.push_back(&b);
  std::sort(ordered.begin(), ordered.end(),
            [](const Batch* a, const Batch* b) { return a->sequence > b->sequence; });
  size_t start = 0;
  if (!after.empty()) {
    auto it = std::find_if(ordered.begin(), ordered.end(),
                           [&](const Batch* b) { return b->id == after; });
    start = it == ordered.end() ? ordered.size() : static_cast<size_t>(it - ordered.begin()) + 1;
  }
  Json data = Json::array();
  size_t i = start;
  for (; i < ordered.size() && static_cast<int64_t>(data.size()) < limit; ++i) {
    data.push_back(ordered[i]->ToApiJson());
  }
  Json out = Json::object();
  out["object"] = "list";
  out["data"] = data;
  out["first_id"] = data.empty() ? Json(nullptr) : data.front()["id"];
  out["last_id"] = data.empty() ? Json(nullptr) : data.back()["id"];
  out["has_more"] = i < ordered.size();
  return out;
}

ApiResult<Json> BatchEngine::Cancel(const std::string& id) {
  Json api;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = batches_.find(id);
    if (it == batches_.end()) return NoSuchObject("Batch", id);
    Batch& b = it->second;
    if (IsTerminal(b.status)) {
      return InvalidRequest("Cannot cancel a batch with status '" + b.status + "'.");
    }
    if (b.status != "cancelling") {
      const int64_t now_ms = clock_->NowMs();
      b.status = "cancelling";
      b.cancelling_at = now_ms / 1000;
      b.phase_due_ms = now_ms + options_.timings.cancel_ms;
    }
    api = b.ToApiJson();
  }
  Wake();
  return api;
}

std::map<std::string, std::string> BatchEngine::Statuses() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::string> out;
  for (const auto& [id, b] : batches_) out[id] = b.status;
  return out;
}

Json BatchEngine::EnqueuedTokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int64_t> by_model;
  for (const auto& [id, b] : batches_) {
    if (b.validated &&
        (b.status == "in_progress" || b.status == "finalizing" || b.status == "cancelling")) {
      by_model[b.request_model] += b.enqueued_tokens;
    }
  }
  Json out = Json::object();
  for (const auto& [model, tokens] : by_model) out[model] = tokens;
  return out;
}

int64_t BatchEngine::EnqueuedFor(const std::string& model, const std::string& except_id) const {
  int64_t sum = 0;
  for (const auto& [id, b] : batches_) {
    if (id != except_id && b.validated && b.request_model == model &&
        (b.status == "in_progress" || b.status == "finalizing" || b.status == "cancelling")) {
      sum += b.enqueued_tokens;
    }
  }
  return sum;
}

std::optional<int64_t> BatchEngine::TokenLimitFor(const std::string& model) const {
  const auto& limits = options_.limits.enqueued_token_limits;
  if (auto it = limits.find(model); it != limits.end()) return it->second;
  if (auto it = limits.find("*"); it != limits.end()) return it->second;
  return std::nullopt;
}

// ---- Background work -------------------------------------------------------

void BatchEngine::Wake() { wake_.notify_all(); }

void BatchEngine::Interrupt() {
  interrupted_ = true;
  Wake();
}

void BatchEngine::WaitForWork(std::chrono::milliseconds max_wait) {
  std::unique_lock<std::mutex> lock(mu_);
  wake_.wait_for(lock, max_wait);
}

std::optional<BatchEngine::WorkKind> BatchEngine::DueWork(Batch& b, int64_t now_ms,
                                                          int64_t& lines_due, bool& changed) {
  if (b.busy) return std::nullopt;
  if (b.status == "validating") {
    if (now_ms >= b.expire_at_ms) return WorkKind::kExpire;
    if (now_ms >= b.phase_due_ms) return WorkKind::kValidate;
    return std::nullopt;
  }
  if (b.status == "in_progress") {
    if (now_ms >= b.expire_at_ms) return WorkKind::kExpire;
    int64_t limit = b.total;
    if (b.faults.expire_after_lines) {
      limit = *b.faults.expire_after_lines < 0 ? b.total / 2
                                               : std::min(b.total, *b.faults.expire_after_lines);
      if (b.next_line >= limit) return WorkKind::kExpire;
    }
    if (b.next_line < b.total) {
      int64_t due = limit - b.next_line;
      if (options_.timings.line_ms > 0) {
        due = std::min(
            due, (now_ms - b.in_progress_started_ms) / options_.timings.line_ms + 1 - b.next_line);
      }
      due = std::min(due, kMaxLinesPerUnit);
      if (due <= 0) return std::nullopt;
      lines_due = due;
      return WorkKind::kExecute;
    }
    if (now_ms >= b.in_progress_started_ms + options_.timings.in_progress_ms) {
      b.status = "finalizing";
      b.finalizing_at = now_ms / 1000;
      b.phase_due_ms = now_ms + options_.timings.finalize_ms + b.faults.extra_finalizing_ms;
      changed = true;
    }
    return std::nullopt;
  }
  if (b.status == "finalizing" && now_ms >= b.phase_due_ms) return WorkKind::kFinalize;
  if (b.status == "cancelling" && now_ms >= b.phase_due_ms) return WorkKind::kFinishCancel;
  return std::nullopt;
}

std::optional<BatchEngine::WorkItem> BatchEngine::PickWork(int64_t now_ms, bool& changed) {
  // Caller holds mu_. Round robin, so one large batch does not starve others.
  std::optional<WorkItem> item;
  auto visit = [&](Batch& b) {
    int64_t lines_due = 0;
    auto kind = DueWork(b, now_ms, lines_due, changed);
    if (!kind) return false;
    b.busy = true;
    cursor_ = b.id;
    item = WorkItem{*kind, b, lines_due, epoch_};
    return true;
  };
  auto start = batches_.upper_bound(cursor_);
  for (auto it = start; it != batches_.end(); ++it) {
    if (visit(it->second)) return item;
  }
  for (auto it = batches_.begin(); it != start; ++it) {
    if (visit(it->second)) return item;
  }
  return std::nullopt;
}

bool BatchEngine::RunDueWork() {
  std::optional<WorkItem> item;
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    item = PickWork(clock_->NowMs(), changed);
  }
  if (changed) Changed();
  if (!item) return changed;
  const std::string id = item->batch.id;
  // Re-finds the batch after slow work; false (and nothing applied) when a
  // reset removed it meanwhile.
  auto with_batch = [&](const std::function<void(Batch&, int64_t)>& apply) {
    bool terminal = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = batches_.find(id);
      if (it == batches_.end() || epoch_ != item->epoch) return;
      it->second.busy = false;
      apply(it->second, clock_->NowMs());
      terminal = IsTerminal(it->second.status);
    }
    if (terminal) {
      std::error_code ec;
      fs::remove_all(BatchDir(id), ec);
    }
    Changed();
    Wake();
  };

  switch (item->kind) {
    case WorkKind::kValidate: {
      ValidationOutcome outcome = Validate(item->batch);
      with_batch([&](Batch& b, int64_t now_ms) { ApplyValidation(b, outcome, now_ms); });
      break;
    }
    case WorkKind::kExecute: {
      ExecutionOutcome outcome = Execute(item->batch, item->lines_due);
      with_batch([&](Batch& b, int64_t) {
        b.next_line += outcome.lines;
        b.next_offset = outcome.next_offset;
        b.ok_bytes += outcome.ok_bytes;
        b.err_bytes += outcome.err_bytes;
        b.ok_lines += outcome.ok_lines;
        b.err_lines += outcome.err_lines;
        b.completed += outcome.completed;
        b.failed += outcome.failed;
        b.input_tokens += outcome.input_tokens;
        b.output_tokens += outcome.output_tokens;
        b.reasoning_tokens += outcome.reasoning_tokens;
        for (const auto& line : outcome.executed) {
          accounting_->LineExecuted(line.custom_id, line.billed, line.fingerprint,
                                    line.deterministic);
          if (line.over_limit) accounting_->LineRejectedForLimits();
          if (line.billed) {
            accounting_->TokensBilled(b.request_model, "batch", line.input_tokens,
                                      line.output_tokens);
          }
        }
      });
      break;
    }
    case WorkKind::kExpire:
    case WorkKind::kFinalize:
    case WorkKind::kFinishCancel: {
      const char* unexecuted = item->kind == WorkKind::kExpire         ? "batch_expired"
                               : item->kind == WorkKind::kFinishCancel ? "batch_cancelled"
                                                                       : nullptr;
      auto files = WriteResults(item->batch, unexecuted);
      if (!files.ok()) {
        log::Error("writing batch results failed; will retry",
                   {{"batch", id}, {"error", std::string(files.status().message())}});
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = batches_.find(id); it != batches_.end()) it->second.busy = false;
        break;
      }
      with_batch([&](Batch& b, int64_t now_ms) {
        b.output_file_id = files->output_file_id;
        b.error_file_id = files->error_file_id;
        if (item->kind == WorkKind::kExpire) {
          b.status = "expired";
          b.expired_at = now_ms / 1000;
        } else if (item->kind == WorkKind::kFinishCancel || b.status == "cancelling") {
          b.status = "cancelled";
          b.cancelled_at = now_ms / 1000;
        } else {
          b.status = "completed";
          b.completed_at = now_ms / 1000;
        }
      });
      break;
    }
  }
  return true;
}

BatchEngine::ValidationOutcome BatchEngine::Validate(const Batch& batch) {
  ValidationOutcome out;
  const std::string cannot_find = "Cannot find file " + batch.input_file_id + ", or organization " +
                                  options_.organization + " does not have access to it.";
  LineReader reader(BatchDir(batch.id) / "input.jsonl", 0);
  if (batch.faults.cannot_find_file || !reader.is_open()) {
    out.errors.push_back(BatchError("file_not_found", cannot_find, "input_file_id", std::nullopt));
    return out;
  }
  std::unordered_set<std::string> custom_ids;
  std::string line;
  const int64_t max_lines = options_.limits.max_requests_per_batch;
  while (reader.Next(line)) {
    if (interrupted_) {
      out.interrupted = true;
      return out;
    }
    ++out.lines;
    if (out.lines > max_lines) continue;  // only counting from here
    const int64_t n = reader.line_number();
    auto add = [&](const std::string& code, const std::string& message,
                   const std::optional<std::string>& param) {
      if (out.errors.size() < kMaxReportedErrors) {
        out.errors.push_back(BatchError(code, message, param, n));
      }
    };
    Json request = ParseJson(line);
    if (request.is_discarded() || !request.is_object()) {
      add("invalid_json_line", "This line is not parseable as valid JSON.", std::nullopt);
      continue;
    }
    if (!request.contains("custom_id") || !request["custom_id"].is_string() ||
        request["custom_id"].get_ref<const std::string&>().empty()) {
      add("missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id");
    } else if (!custom_ids.insert(request["custom_id"].get<std::string>()).second) {
      add("duplicate_custom_id",
          "The custom_id for this request is a duplicate of another request. The custom_id "
          "parameter must be unique for each request in a batch.",
          "custom_id");
    }
    if (!request.contains("method")) {
      add("missing_required_parameter", "Missing required parameter: 'method'.", "method");
    } else if (request["method"] != "POST") {
      add("invalid_value", "Invalid value for 'method': only 'POST' is supported.", "method");
    }
    if (!request.contains("url")) {
      add("missing_required_parameter", "Missing required parameter: 'url'.", "url");
    } else if (request["url"] != batch.endpoint) {
      add("url_mismatch",
          "The URL provided for this request does not match the batch endpoint. Each request's "
          "url must be '" +
              batch.endpoint + "'.",
          "url");
    }
    if (!request.contains("body") || !request["body"].is_object()) {
      add("missing_required_parameter", "Missing required parameter: 'body'.", "body");
      continue;
    }
    const Json& body = request["body"];
    if (!body.contains("model") || !body["model"].is_string()) {
      add("missing_required_parameter", "Missing required parameter: 'body.model'.", "body.model");
      continue;
    }
    const std::string model = body["model"].get<std::string>();
    if (out.model.empty()) {
      out.model = model;
    } else if (model != out.model) {
      add("model_mismatch",
          "The model '" + model +
              "' for this request does not match the rest of the batch. Each batch must contain "
              "requests for a single model.",
          "body.model");
    }
    if (out.errors.empty()) {
      out.tokens += batch.endpoint == kChatCompletions ? completer_->CountPromptTokens(body)
                                                       : TokensForBytes(line.size());
    }
  }
  if (out.lines > max_lines) {
    out.errors.insert(out.errors.begin(),
                      BatchError("too_many_tasks",
                                 "The batch input file contains " + FormatWithCommas(out.lines) +
                                     " requests, more than the limit of " +
                                     FormatWithCommas(max_lines) + " requests per batch.",
                                 std::nullopt, std::nullopt));
  } else if (out.lines == 0) {
    out.errors.push_back(
        BatchError("empty_file", "The batch input file is empty.", std::nullopt, std::nullopt));
  }
  return out;
}

void BatchEngine::ApplyValidation(Batch& b, const ValidationOutcome& outcome, int64_t now_ms) {
  if (outcome.interrupted) return;
  const bool valid = outcome.errors.empty();
  if (b.status == "cancelling") {
    // Cancelled while validating: the lines are reported as not executed.
    if (valid) {
      b.validated = true;
      b.total = outcome.lines;
      b.request_model = outcome.model;
    }
    return;
  }
  if (b.status != "validating") return;
  auto fail = [&](Json errors) {
    b.status = "failed";
    b.failed_at = now_ms / 1000;
    b.errors = {{"object", "list"}, {"data", std::move(errors)}};
  };
  if (!valid) {
    fail(outcome.errors);
    return;
  }
  const std::optional<int64_t> limit = TokenLimitFor(outcome.model);
  const int64_t in_flight = EnqueuedFor(outcome.model, b.id);
  if (b.faults.token_limit_exceeded || (limit && in_flight + outcome.tokens > *limit)) {
    fail(Json::array({BatchError(
        "token_limit_exceeded",
        "Enqueued token limit reached for " + outcome.model + " in organization " +
            options_.organization + ". Limit: " + FormatWithCommas(limit.value_or(2'000'000)) +
            " enqueued tokens. Please try again once some in_progress batches have "
            "been completed.",
        std::nullopt, std::nullopt)}));
    return;
  }
  b.status = "in_progress";
  b.in_progress_at = now_ms / 1000;
  b.in_progress_started_ms = now_ms;
  b.validated = true;
  b.total = outcome.lines;
  b.request_model = outcome.model;
  b.model = LookupModel(outcome.model).snapshot;
  b.enqueued_tokens = outcome.tokens;
}

Json BatchEngine::LineResult(const std::string& custom_id, const Json& response,
                             const Json& error) {
  Json line = Json::object();
  line["id"] = ids_->BatchRequestId();
  line["custom_id"] = custom_id;
  line["response"] = response;
  line["error"] = error;
  return line;
}

BatchEngine::ExecutionOutcome BatchEngine::Execute(const Batch& batch, int64_t lines_due) {
  ExecutionOutcome out;
  out.next_offset = batch.next_offset;
  const fs::path dir = BatchDir(batch.id);
  LineReader reader(dir / "input.jsonl", batch.next_offset);
  std::ofstream ok(dir / "ok.jsonl", std::ios::binary | std::ios::app);
  std::ofstream err(dir / "err.jsonl", std::ios::binary | std::ios::app);
  std::string line;
  while (out.lines < lines_due && reader.Next(line)) {
    const Json request = ParseJson(line);  // validation accepted every line
    const std::string custom_id = request.value("custom_id", std::string());
    const Json body = request.value("body", Json::object());
    const int64_t attempt = accounting_->Executions(custom_id) + 1;
    const std::optional<LineFault> fault = faults_->ForLine(custom_id, attempt);
    if (fault) accounting_->CountFault("line:" + fault->kind);
    const std::string request_id = ids_->RequestId();

    Json response;
    bool to_output = false;
    bool billed = false;
    bool counts_completed = false;
    Completion completion;
    const std::string kind = fault ? fault->kind : "";
    if (kind == "status_0") {
      // Seen in the wild: an empty response in the error file while
      // request_counts.failed stays 0.
      response = {{"status_code", 0}, {"request_id", ""}, {"body", Json::object()}};
      counts_completed = true;
    } else if (kind == "server_error" || kind == "rate_limit" || kind == "bad_request") {
      ApiError error;
      if (kind == "server_error") {
        error = ServerError(fault->status, request_id);
      } else if (kind == "rate_limit") {
        error = RateLimited(batch.request_model, options_.organization);
      } else {
        error = InvalidRequest(
            "This model's maximum context length is 128000 tokens. However, you requested "
            "1000024 tokens (1000000 in the messages, 24 in the completion). Please reduce the "
            "length of the messages or completion.",
            "messages", "context_length_exceeded");
      }
      if (fault->message) error.message = *fault->message;
      response = {
          {"status_code", fault->status}, {"request_id", request_id}, {"body", error.ToBody()}};
    } else if (batch.endpoint != kChatCompletions) {
      response = {{"status_code", 400},
                  {"request_id", request_id},
                  {"body", InvalidRequest("The openai-emulator executes only " +
                                              std::string(kChatCompletions) + " requests.",
                                          "url", "unsupported_endpoint")
                               .ToBody()}};
    } else {
      CompletionOverrides overrides;
      overrides.force_length = kind == "length";
      overrides.refusal = kind == "refusal";
      overrides.content_filter = kind == "content_filter";
      completion = completer_->Complete(body, overrides);
      response = {{"status_code", completion.status_code},
                  {"request_id", request_id},
                  {"body", completion.body}};
      billed = to_output = counts_completed = completion.status_code == 200;
    }
    std::string text = Dump(LineResult(custom_id, response, nullptr));
    if (kind == "malformed") text = Garble(text);
    text += '\n';
    if (to_output) {
      ok << text;
      out.ok_bytes += static_cast<int64_t>(text.size());
      ++out.ok_lines;
    } else {
      err << text;
      out.err_bytes += static_cast<int64_t>(text.size());
      ++out.err_lines;
    }
    if (counts_completed) {
      ++out.completed;
    } else {
      ++out.failed;
    }
    if (billed) {
      out.input_tokens += completion.prompt_tokens;
      out.output_tokens += completion.completion_tokens;
      out.reasoning_tokens += completion.reasoning_tokens;
    }
    const uint64_t fingerprint = std::hash<std::string>{}(line) | 1;  // never 0
    out.executed.push_back({custom_id, billed, billed ? completion.prompt_tokens : 0,
                            billed ? completion.completion_tokens : 0, completion.over_limit,
                            fingerprint, IsDeterministicAnswer(response)});
    ++out.lines;
  }
  ok.flush();
  err.flush();
  out.next_offset = reader.offset();
  return out;
}

absl::StatusOr<std::optional<std::string>> BatchEngine::PublishShuffled(const Batch& batch,
                                                                        const fs::path& lines_path,
                                                                        const std::string& suffix) {
  std::error_code ec;
  if (!fs::exists(lines_path, ec) || fs::file_size(lines_path, ec) == 0) {
    return std::optional<std::string>();
  }
  // Offsets only: the file may be large, its lines are copied one by one.
  std::vector<std::pair<int64_t, int64_t>> spans;
  {
    std::ifstream in(lines_path, std::ios::binary);
    std::string line;
    int64_t offset = 0;
    while (std::getline(in, line)) {
      spans.emplace_back(offset, static_cast<int64_t>(line.size()));
      offset += static_cast<int64_t>(line.size()) + 1;
    }
  }
  std::mt19937_64 rng(options_.seed ^ HashString(batch.id + suffix));
  std::shuffle(spans.begin(), spans.end(), rng);
  const fs::path temp = files_->NewTempPath();
  {
    std::ifstream in(lines_path, std::ios::binary);
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    std::string buffer;
    for (const auto& [offset, size] : spans) {
      buffer.resize(static_cast<size_t>(size));
      in.seekg(offset);
      in.read(buffer.data(), size);
      out << buffer << '\n';
    }
    out.flush();
    if (!out || !in) {
      fs::remove(temp, ec);
      return absl::InternalError("copying result lines of " + batch.id);
    }
  }
  int64_t seconds = kDefaultOutputExpirySeconds;
  if (batch.output_expires_after.is_object() && batch.output_expires_after.contains("seconds")) {
    seconds = batch.output_expires_after["seconds"].get<int64_t>();
  }
  auto record = files_->Adopt(temp, batch.id + "_" + suffix + ".jsonl", "batch_output",
                              clock_->NowSeconds() + seconds);
  if (!record.ok()) return record.status();
  return std::optional<std::string>(record->id);
}

absl::StatusOr<BatchEngine::FinalFiles> BatchEngine::WriteResults(const Batch& batch,
                                                                  const char* unexecuted_code) {
  FinalFiles out;
  const fs::path dir = BatchDir(batch.id);
  if (unexecuted_code != nullptr && batch.validated && batch.next_line < batch.total) {
    LineReader reader(dir / "input.jsonl", batch.next_offset);
    std::ofstream err(dir / "err.jsonl", std::ios::binary | std::ios::app);
    const std::string message =
        std::string(unexecuted_code) == "batch_expired"
            ? "This request could not be executed before the completion window expired."
            : "This request was not executed because the batch was cancelled.";
    std::string line;
    while (reader.Next(line)) {
      const Json request = ParseJson(line);
      const std::string custom_id =
          request.is_object() ? request.value("custom_id", std::string()) : std::string();
      err << Dump(LineResult(custom_id, nullptr, {{"code", unexecuted_code}, {"message", message}}))
          << '\n';
      ++out.unexecuted;
    }
    err.flush();
    if (!err) return absl::InternalError("writing unexecuted lines of " + batch.id);
  }
  auto output = PublishShuffled(batch, dir / "ok.jsonl", "output");
  if (!output.ok()) return output.status();
  auto errors = PublishShuffled(batch, dir / "err.jsonl", "error");
  if (!errors.ok()) return errors.status();
  out.output_file_id = *output;
  out.error_file_id = *errors;
  return out;
}

// ---- State -----------------------------------------------------------------

void BatchEngine::WithStateLocked(const std::function<void(const Json& batches)>& save) const {
  std::lock_guard<std::mutex> lock(mu_);
  Json list = Json::array();
  for (const auto& [id, b] : batches_) list.push_back(b.ToStateJson());
  save(Json{{"next_sequence", next_sequence_}, {"batches", list}});
}

absl::Status BatchEngine::LoadState(const Json& state) {
  std::map<std::string, Batch> loaded;
  int64_t next_sequence = state.value("next_sequence", int64_t{1});
  try {
    if (state.contains("batches")) {
      for (const auto& j : state["batches"]) {
        Batch b = Batch::FromStateJson(j);
        next_sequence = std::max(next_sequence, b.sequence + 1);
        loaded[b.id] = std::move(b);
      }
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(std::string("reading saved batches: ") + e.what());
  }
  for (auto& [id, b] : loaded) {
    if (IsTerminal(b.status)) continue;
    // Lines written after the last save are dropped and run again.
    std::error_code ec;
    for (auto [name, size] : {std::pair{"ok.jsonl", b.ok_bytes}, {"err.jsonl", b.err_bytes}}) {
      const fs::path p = BatchDir(id) / name;
      if (fs::exists(p, ec) && static_cast<int64_t>(fs::file_size(p, ec)) > size) {
        fs::resize_file(p, static_cast<uintmax_t>(size), ec);
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  batches_ = std::move(loaded);
  next_sequence_ = next_sequence;
  return absl::OkStatus();
}

void BatchEngine::Clear() {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++epoch_;
    for (const auto& [id, b] : batches_) ids.push_back(id);
    batches_.clear();
    cursor_.clear();
  }
  std::error_code ec;
  for (const auto& id : ids) fs::remove_all(BatchDir(id), ec);
}

}  // namespace batchscribe::emulator

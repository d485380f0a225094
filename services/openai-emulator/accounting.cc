#include "services/openai-emulator/accounting.h"

#include <algorithm>

namespace batchscribe::emulator {
namespace {

// "k1=v1,k2=v2" with keys in sorted order: one key per distinct metadata set.
std::string MetadataKey(const Json& metadata) {
  if (!metadata.is_object() || metadata.empty()) return "";
  std::map<std::string, std::string> sorted;
  for (const auto& [k, v] : metadata.items()) {
    sorted[k] = v.is_string() ? v.get<std::string>() : Dump(v);
  }
  std::string out;
  for (const auto& [k, v] : sorted) {
    if (!out.empty()) out += ",";
    out += k + "=" + v;
  }
  return out;
}

}  // namespace

void Accounting::CountRequest(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[route][status];
}

void Accounting::CountFault(const std::string& kind) {
  std::lock_guard<std::mutex> lock(mu_);
  ++faults_[kind];
}

void Accounting::FileUploaded(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  ++files_uploaded_;
  bytes_uploaded_ += bytes;
}

void Accounting::FileDeleted() {
  std::lock_guard<std::mutex> lock(mu_);
  ++files_deleted_;
}

void Accounting::BatchCreated(const std::string& id, const Json& metadata,
                              const std::string& input_file_id, int64_t created_at) {
  std::lock_guard<std::mutex> lock(mu_);
  batches_.push_back(CreatedBatch{id, metadata, input_file_id, created_at});
}

int64_t Accounting::LineExecuted(const std::string& custom_id, bool billed, uint64_t fingerprint,
                                 bool deterministic) {
  std::lock_guard<std::mutex> lock(mu_);
  if (billed) ++lines_billed_[custom_id];
  if (fingerprint != 0) {
    if (deterministic_failures_.count(fingerprint) > 0) ++resent_after_failure_[custom_id];
    if (deterministic) deterministic_failures_.insert(fingerprint);
  }
  return ++lines_executed_[custom_id];
}

void Accounting::LineRejectedForLimits() {
  std::lock_guard<std::mutex> lock(mu_);
  ++lines_rejected_limits_;
}

int64_t Accounting::Executions(const std::string& custom_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lines_executed_.find(custom_id);
  return it == lines_executed_.end() ? 0 : it->second;
}

void Accounting::TokensBilled(const std::string& model, const std::string& mode,
                              int64_t input_tokens, int64_t output_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  Tokens& t = tokens_[model][mode];
  ++t.requests;
  t.input_tokens += input_tokens;
  t.output_tokens += output_tokens;
}

Json Accounting::ToJson(const std::map<std::string, std::string>& statuses) const {
  std::lock_guard<std::mutex> lock(mu_);
  Json out = Json::object();

  Json requests = Json::object();
  int64_t total_requests = 0;
  for (const auto& [route, by_status] : requests_) {
    Json statuses = Json::object();
    int64_t n = 0;
    for (const auto& [status, count] : by_status) {
      statuses[std::to_string(status)] = count;
      n += count;
    }
    requests[route] = {{"total", n}, {"by_status", statuses}};
    total_requests += n;
  }
  out["requests"] = {{"total", total_requests}, {"by_route", requests}};

  out["files"] = {{"uploaded", files_uploaded_},
                  {"uploaded_bytes", bytes_uploaded_},
                  {"deleted", files_deleted_}};

  Json list = Json::array();
  Json by_metadata = Json::object();
  Json by_metadata_set = Json::object();
  std::map<std::string, int64_t> by_status;
  for (const auto& b : batches_) {
    auto found = statuses.find(b.id);
    const std::optional<std::string> status =
        found == statuses.end() ? std::nullopt : std::optional<std::string>(found->second);
    Json entry = Json::object();
    entry["id"] = b.id;
    entry["status"] = status ? Json(*status) : Json(nullptr);
    entry["metadata"] = b.metadata;
    entry["input_file_id"] = b.input_file_id;
    entry["created_at"] = b.created_at;
    list.push_back(entry);
    ++by_status[status.value_or("unknown")];
    if (b.metadata.is_object()) {
      for (const auto& [k, v] : b.metadata.items()) {
        const std::string value = v.is_string() ? v.get<std::string>() : Dump(v);
        by_metadata[k][value].push_back(entry);
      }
    }
    by_metadata_set[MetadataKey(b.metadata)].push_back(entry);
  }
  Json status_counts = Json::object();
  for (const auto& [s, n] : by_status) status_counts[s] = n;
  out["batches"] = {{"created", static_cast<int64_t>(batches_.size())},
                    {"by_status", status_counts},
                    {"list", list},
                    {"by_metadata", by_metadata},
                    {"by_metadata_set", by_metadata_set}};

  Json executed = Json::object();
  int64_t executed_total = 0;
  int64_t max_executions = 0;
  for (const auto& [id, n] : lines_executed_) {
    executed[id] = n;
    executed_total += n;
    max_executions = std::max(max_executions, n);
  }
  Json billed = Json::object();
  int64_t billed_total = 0;
  for (const auto& [id, n] : lines_billed_) {
    billed[id] = n;
    billed_total += n;
  }
  Json resent = Json::object();
  int64_t resent_total = 0;
  for (const auto& [id, n] : resent_after_failure_) {
    resent[id] = n;
    resent_total += n;
  }
  // max_executions > 1: some custom_id ran twice (a retry, or a duplicate).
  // resent_after_deterministic_failure: identical lines sent again after an
  // answer that an identical line cannot change (should always be empty).
  out["lines"] = {{"executed_total", executed_total},
                  {"max_executions", max_executions},
                  {"deterministic_failures", static_cast<int64_t>(deterministic_failures_.size())},
                  {"resent_after_deterministic_failure", resent},
                  {"resent_after_deterministic_failure_total", resent_total},
                  {"rejected_limits", lines_rejected_limits_},
                  {"billed_total", billed_total},
                  {"executed", executed},
                  {"billed", billed}};

  Json tokens = Json::object();
  for (const auto& [model, modes] : tokens_) {
    Json m = Json::object();
    int64_t in = 0, outp = 0, reqs = 0;
    for (const auto& [mode, t] : modes) {
      m[mode] = {{"requests", t.requests},
                 {"input_tokens", t.input_tokens},
                 {"output_tokens", t.output_tokens}};
      in += t.input_tokens;
      outp += t.output_tokens;
      reqs += t.requests;
    }
    m["requests"] = reqs;
    m["input_tokens"] = in;
    m["output_tokens"] = outp;
    m["total_tokens"] = in + outp;
    tokens[model] = m;
  }
  out["tokens_billed"] = tokens;

  Json faults = Json::object();
  for (const auto& [kind, n] : faults_) faults[kind] = n;
  out["faults_fired"] = faults;
  return out;
}

Json Accounting::ToState() const {
  std::lock_guard<std::mutex> lock(mu_);
  Json out = Json::object();
  Json requests = Json::object();
  for (const auto& [route, by_status] : requests_) {
    for (const auto& [status, count] : by_status) requests[route][std::to_string(status)] = count;
  }
  out["requests"] = requests;
  out["faults"] = faults_;
  out["files_uploaded"] = files_uploaded_;
  out["bytes_uploaded"] = bytes_uploaded_;
  out["files_deleted"] = files_deleted_;
  Json batches = Json::array();
  for (const auto& b : batches_) {
    batches.push_back({{"id", b.id},
                       {"metadata", b.metadata},
                       {"input_file_id", b.input_file_id},
                       {"created_at", b.created_at}});
  }
  out["batches"] = batches;
  out["lines_executed"] = lines_executed_;
  out["lines_billed"] = lines_billed_;
  out["lines_rejected_limits"] = lines_rejected_limits_;
  Json fingerprints = Json::array();  // strings: JSON numbers lose uint64 precision elsewhere
  for (uint64_t f : deterministic_failures_) fingerprints.push_back(std::to_string(f));
  out["deterministic_failures"] = fingerprints;
  out["resent_after_failure"] = resent_after_failure_;
  Json tokens = Json::object();
  for (const auto& [model, modes] : tokens_) {
    for (const auto& [mode, t] : modes) {
      tokens[model][mode] = {t.requests, t.input_tokens, t.output_tokens};
    }
  }
  out["tokens"] = tokens;
  return out;
}

void Accounting::LoadState(const Json& state) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_.clear();
  if (state.contains("requests")) {
    for (const auto& [route, by_status] : state["requests"].items()) {
      for (const auto& [status, count] : by_status.items()) {
        requests_[route][std::stoi(status)] = count.get<int64_t>();
      }
    }
  }
  faults_ = state.value("faults", std::map<std::string, int64_t>{});
  files_uploaded_ = state.value("files_uploaded", int64_t{0});
  bytes_uploaded_ = state.value("bytes_uploaded", int64_t{0});
  files_deleted_ = state.value("files_deleted", int64_t{0});
  batches_.clear();
  if (state.contains("batches")) {
    for (const auto& b : state["batches"]) {
      batches_.push_back(CreatedBatch{b.at("id").get<std::string>(), b.value("metadata", Json()),
                                      b.value("input_file_id", std::string()),
                                      b.value("created_at", int64_t{0})});
    }
  }
  lines_executed_ = state.value("lines_executed", std::map<std::string, int64_t>{});
  lines_billed_ = state.value("lines_billed", std::map<std::string, int64_t>{});
  lines_rejected_limits_ = state.value("lines_rejected_limits", int64_t{0});
  deterministic_failures_.clear();
  if (state.contains("deterministic_failures") && state["deterministic_failures"].is_array()) {
    for (const auto& f : state["deterministic_failures"]) {
      if (f.is_string()) deterministic_failures_.insert(std::stoull(f.get<std::string>()));
    }
  }
  resent_after_failure_ = state.value("resent_after_failure", std::map<std::string, int64_t>{});
  tokens_.clear();
  if (state.contains("tokens")) {
    for (const auto& [model, modes] : state["tokens"].items()) {
      for (const auto& [mode, t] : modes.items()) {
        tokens_[model][mode] =
            Tokens{t.at(0).get<int64_t>(), t.at(1).get<int64_t>(), t.at(2).get<int64_t>()};
      }
    }
  }
}

void Accounting::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  requests_.clear();
  faults_.clear();
  files_uploaded_ = bytes_uploaded_ = files_deleted_ = 0;
  batches_.clear();
  lines_executed_.clear();
  lines_billed_.clear();
  lines_rejected_limits_ = 0;
  deterministic_failures_.clear();
  resent_after_failure_.clear();
  tokens_.clear();
}

}  // namespace batchscribe::emulator

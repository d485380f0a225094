#include "libs/common/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <vector>

namespace batchscribe::log {
namespace {

struct State {
  std::mutex mu;
  std::string service = "batchscribe";
  std::vector<std::string> secrets;
  std::shared_ptr<spdlog::logger> logger;
};

State& GetState() {
  static State* state = new State();
  return *state;
}

std::shared_ptr<spdlog::logger> Logger() {
  State& s = GetState();
  std::lock_guard lock(s.mu);
  if (!s.logger) {
    s.logger = spdlog::stderr_logger_mt("batchscribe-json");
    s.logger->set_pattern("%v");
    s.logger->flush_on(spdlog::level::trace);
  }
  return s.logger;
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms.count()));
  return out;
}

thread_local nlohmann::json t_context = nlohmann::json::object();

std::string Dump(const nlohmann::json& line) {
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Cuts `text` to at most `bytes`, not inside a UTF-8 sequence.
std::string CutUtf8(const std::string& text, size_t bytes) {
  if (text.size() <= bytes) return text;
  while (bytes > 0 && (static_cast<unsigned char>(text[bytes]) & 0xC0) == 0x80) --bytes;
  return text.substr(0, bytes);
}

// Shortens `line` (already redacted) until it fits: the longest values first,
// each to what the excess leaves of it; schema keys are cut last and never dropped.
std::string Fit(nlohmann::json line, std::string text) {
  line["truncated"] = true;
  text = Dump(line);
  for (int round = 0; round < 64 && text.size() > kMaxLineBytes; ++round) {
    std::string longest;
    size_t longest_size = 0;
    for (auto it = line.begin(); it != line.end(); ++it) {
      const size_t size = it.value().is_string() ? it.value().get_ref<const std::string&>().size()
                                                 : Dump(it.value()).size();
      if (size > longest_size) {
        longest = it.key();
        longest_size = size;
      }
    }
    if (longest_size <= 64) break;
    nlohmann::json& value = line[longest];
    const std::string full = value.is_string() ? value.get<std::string>() : Dump(value);
    const size_t excess = text.size() - kMaxLineBytes + 64;
    const size_t keep = full.size() > excess ? full.size() - excess : 0;
    const std::string kept = CutUtf8(full, keep);
    value = kept + "...[" + std::to_string(full.size() - kept.size()) + " bytes cut]";
    text = Dump(line);
  }
  if (text.size() > kMaxLineBytes) {  // many small fields: keep the schema only
    nlohmann::json small = nlohmann::json::object();
    for (const char* key : {"ts", "level", "service", "msg", kBatchId, kShardId, kDocumentId,
                            kTaskId, kOpenAiRequestId}) {
      if (line.contains(key)) small[key] = line[key];
    }
    small["truncated"] = true;
    text = Dump(small);
  }
  return text;
}

std::string Format(std::string_view level, std::string_view msg, const nlohmann::json& fields) {
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = Timestamp();
  line["level"] = std::string(level);
  {
    std::lock_guard lock(GetState().mu);
    line["service"] = GetState().service;
  }
  line["msg"] = std::string(msg);
  for (auto it = t_context.begin(); it != t_context.end(); ++it) line[it.key()] = it.value();
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  std::string text = Redact(Dump(line));
  if (text.size() <= kMaxLineBytes) return text;
  // Cut the redacted values, so that no cut can leave part of a secret behind.
  nlohmann::json redacted = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!redacted.is_object()) {
    redacted = {{"ts", line["ts"]}, {"level", line["level"]}, {"service", line["service"]},
                {"msg", CutUtf8(Redact(std::string(msg)), 1024)}};
  }
  return Fit(std::move(redacted), std::move(text));
}

void Write(spdlog::level::level_enum level, std::string_view msg, const nlohmann::json& fields) {
  auto logger = Logger();
  if (!logger->should_log(level)) return;
  logger->log(level, "{}", Format(spdlog::level::to_string_view(level).data(), msg, fields));
}

}  // namespace

void Init(std::string_view service, std::string_view level) {
  Logger()->set_level(spdlog::level::from_str(std::string(level)));
  std::lock_guard lock(GetState().mu);
  GetState().service = std::string(service);
}

void RegisterSecret(std::string_view secret) {
  if (secret.size() < 4) return;
  std::lock_guard lock(GetState().mu);
  GetState().secrets.emplace_back(secret);
}

std::string Redact(std::string_view text) {
  std::string out(text);
  std::lock_guard lock(GetState().mu);
  for (const auto& secret : GetState().secrets) {
    for (size_t pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos)) {
      out.replace(pos, secret.size(), "[redacted]");
    }
  }
  return out;
}

ScopedContext::ScopedContext(const nlohmann::json& fields) : previous_(t_context) {
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) t_context[it.key()] = it.value();
  }
}

ScopedContext::~ScopedContext() { t_context = std::move(previous_); }

std::string FormatLine(std::string_view level, std::string_view msg,
                       const nlohmann::json& fields) {
  return Format(level, msg, fields);
}

void Debug(std::string_view msg, const nlohmann::json& f) { Write(spdlog::level::debug, msg, f); }
void Info(std::string_view msg, const nlohmann::json& f) { Write(spdlog::level::info, msg, f); }
void Warn(std::string_view msg, const nlohmann::json& f) { Write(spdlog::level::warn, msg, f); }
void Error(std::string_view msg, const nlohmann::json& f) { Write(spdlog::level::err, msg, f); }

}  // namespace batchscribe::log

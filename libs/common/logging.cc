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

void Write(spdlog::level::level_enum level, std::string_view msg, const nlohmann::json& fields) {
  auto logger = Logger();
  if (!logger->should_log(level)) return;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = Timestamp();
  line["level"] = spdlog::level::to_string_view(level).data();
  {
    std::lock_guard lock(GetState().mu);
    line["service"] = GetState().service;
  }
  line["msg"] = std::string(msg);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  logger->log(level, "{}",
              Redact(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
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

void Debug(std::string_view msg, const nlohmann::json& f) { Write(spdlog::level::debug, msg, f); }
void Info(std::string_view msg, const nlohmann::json& f) { Write(spdlog::level::info, msg, f); }
void Warn(std::string_view msg, const nlohmann::json& f) { Write(spdlog::level::warn, msg, f); }
void Error(std::string_view msg, const nlohmann::json& f) { Write(spdlog::level::err, msg, f); }

}  // namespace batchscribe::log

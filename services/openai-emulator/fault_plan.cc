#include "services/openai-emulator/fault_plan.h"

#include <set>

namespace batchscribe::emulator {
namespace {

absl::Status Bad(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError("faults: " + where + ": " + what);
}

absl::Status CheckKeys(const Json& rule, const std::string& where,
                       const std::set<std::string>& allowed) {
  if (!rule.is_object()) return Bad(where, "must be an object");
  for (const auto& [key, value] : rule.items()) {
    if (!allowed.count(key) && key != "count" && key != "skip" && key != "every" &&
        key != "probability" && key != "matched" && key != "fired") {
      return Bad(where, "unknown field '" + key + "'");
    }
  }
  return absl::OkStatus();
}

absl::Status ReadInt(const Json& rule, const std::string& where, const char* key, int64_t& out) {
  if (!rule.contains(key)) return absl::OkStatus();
  if (!rule[key].is_number_integer()) return Bad(where, std::string(key) + " must be an integer");
  out = rule[key].get<int64_t>();
  return absl::OkStatus();
}

absl::Status ReadRegex(const Json& rule, const std::string& where, const char* key,
                       std::regex& out) {
  std::string pattern = ".*";
  if (rule.contains(key)) {
    if (!rule[key].is_string()) return Bad(where, std::string(key) + " must be a string");
    pattern = rule[key].get<std::string>();
  }
  try {
    out = std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return Bad(where, std::string(key) + " is not a valid regular expression: " + e.what());
  }
  return absl::OkStatus();
}

template <typename Selector>
absl::Status ReadSelector(const Json& rule, const std::string& where, Selector& selector) {
  if (auto s = ReadInt(rule, where, "count", selector.count); !s.ok()) return s;
  if (auto s = ReadInt(rule, where, "skip", selector.skip); !s.ok()) return s;
  if (auto s = ReadInt(rule, where, "every", selector.every); !s.ok()) return s;
  if (selector.every < 1) return Bad(where, "every must be >= 1");
  if (rule.contains("probability")) {
    if (!rule["probability"].is_number()) return Bad(where, "probability must be a number");
    selector.probability = rule["probability"].get<double>();
    if (selector.probability < 0 || selector.probability > 1) {
      return Bad(where, "probability must be between 0 and 1");
    }
  }
  return absl::OkStatus();
}

std::optional<std::string> NumberOrString(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (value.is_number()) return Dump(value);
  return std::nullopt;
}

Json WithoutCounters(Json rule) {
  rule.erase("matched");
  rule.erase("fired");
  return rule;
}

uint64_t Mix(uint64_t x) {
  // splitmix64 finaliser.
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double HashDraw(uint64_t seed, size_t rule, const std::string& custom_id, int64_t attempt) {
  uint64_t h = Mix(seed ^ Mix(rule + 1));
  for (unsigned char c : custom_id) h = Mix(h ^ c);
  h = Mix(h ^ static_cast<uint64_t>(attempt));
  return static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53);
}

const std::set<std::string> kLineKinds = {"server_error", "status_0",      "rate_limit",
                                          "bad_request",  "malformed",     "length",
                                          "refusal",      "content_filter"};
const std::set<std::string> kBatchKinds = {"cannot_find_file", "token_limit_exceeded", "expire",
                                           "stuck_finalizing"};

}  // namespace

Json BatchFaults::ToJson() const {
  Json out = Json::object();
  out["cannot_find_file"] = cannot_find_file;
  out["token_limit_exceeded"] = token_limit_exceeded;
  out["expire_after_lines"] = expire_after_lines ? Json(*expire_after_lines) : Json(nullptr);
  out["extra_finalizing_ms"] = extra_finalizing_ms;
  return out;
}

BatchFaults BatchFaults::FromJson(const Json& json) {
  BatchFaults f;
  if (!json.is_object()) return f;
  f.cannot_find_file = json.value("cannot_find_file", false);
  f.token_limit_exceeded = json.value("token_limit_exceeded", false);
  if (json.contains("expire_after_lines") && json["expire_after_lines"].is_number_integer()) {
    f.expire_after_lines = json["expire_after_lines"].get<int64_t>();
  }
  f.extra_finalizing_ms = json.value("extra_finalizing_ms", int64_t{0});
  return f;
}

FaultPlan::FaultPlan(uint64_t default_seed) : default_seed_(default_seed) {
  rules_.seed = default_seed;
  rng_.seed(default_seed);
}

absl::Status FaultPlan::Parse(const Json& config, uint64_t default_seed, Rules& rules) {
  if (config.is_null()) return absl::OkStatus();
  if (!config.is_object()) return Bad("config", "must be a JSON object");
  for (const auto& [key, value] : config.items()) {
    if (key != "seed" && key != "http" && key != "lines" && key != "batches") {
      return Bad("config", "unknown field '" + key + "' (expected seed, http, lines, batches)");
    }
    if (key != "seed" && !value.is_array()) return Bad(key, "must be an array");
  }
  rules.seed = default_seed;
  if (config.contains("seed")) {
    if (!config["seed"].is_number_unsigned()) return Bad("seed", "must be a non-negative integer");
    rules.seed = config["seed"].get<uint64_t>();
  }
  if (config.contains("http")) {
    for (size_t i = 0; i < config["http"].size(); ++i) {
      const Json& r = config["http"][i];
      const std::string where = "http[" + std::to_string(i) + "]";
      if (auto s = CheckKeys(r, where,
                             {"match", "phase", "action", "status", "body", "retry_after",
                              "retry_after_ms", "should_retry", "delay_ms"});
          !s.ok()) {
        return s;
      }
      HttpRule rule;
      rule.config = WithoutCounters(r);
      if (auto s = ReadRegex(r, where, "match", rule.match); !s.ok()) return s;
      if (auto s = ReadSelector(r, where, rule.selector); !s.ok()) return s;
      const std::string phase = r.value("phase", std::string("before"));
      if (phase != "before" && phase != "after") return Bad(where, "phase must be before|after");
      rule.phase = phase == "after" ? FaultPhase::kAfterHandling : FaultPhase::kBeforeHandling;
      rule.fault.action = r.value("action", std::string("error"));
      if (rule.fault.action != "error" && rule.fault.action != "drop" &&
          rule.fault.action != "delay") {
        return Bad(where, "action must be error|drop|delay");
      }
      int64_t status = 500;
      if (auto s = ReadInt(r, where, "status", status); !s.ok()) return s;
      if (status < 400 || status > 599) return Bad(where, "status must be 400..599");
      rule.fault.status = static_cast<int>(status);
      rule.fault.body = r.value("body", std::string("openai"));
      static const std::set<std::string> kBodies = {
          "openai", "html", "cf_bad_gateway", "insufficient_quota", "cannot_find_file", "empty"};
      if (!kBodies.count(rule.fault.body)) {
        return Bad(where,
                   "body must be openai|html|cf_bad_gateway|insufficient_quota|cannot_find_file|"
                   "empty");
      }
      if (r.contains("retry_after")) {
        rule.fault.retry_after = NumberOrString(r["retry_after"]);
        if (!rule.fault.retry_after) return Bad(where, "retry_after must be a number or string");
      }
      if (r.contains("retry_after_ms")) {
        rule.fault.retry_after_ms = NumberOrString(r["retry_after_ms"]);
        if (!rule.fault.retry_after_ms) {
          return Bad(where, "retry_after_ms must be a number or string");
        }
      }
      if (r.contains("should_retry")) {
        if (!r["should_retry"].is_boolean()) return Bad(where, "should_retry must be a boolean");
        rule.fault.should_retry = r["should_retry"].get<bool>();
      }
      if (auto s = ReadInt(r, where, "delay_ms", rule.fault.delay_ms); !s.ok()) return s;
      if (rule.fault.action == "delay" && rule.fault.delay_ms <= 0) {
        return Bad(where, "a delay needs delay_ms > 0");
      }
      rule.fault.rule = static_cast<int>(i);
      rules.http.push_back(std::move(rule));
    }
  }
  if (config.contains("lines")) {
    for (size_t i = 0; i < config["lines"].size(); ++i) {
      const Json& r = config["lines"][i];
      const std::string where = "lines[" + std::to_string(i) + "]";
      if (auto s = CheckKeys(r, where, {"custom_id", "kind", "status", "message", "attempts"});
          !s.ok()) {
        return s;
      }
      LineRule rule;
      rule.config = WithoutCounters(r);
      if (auto s = ReadRegex(r, where, "custom_id", rule.custom_id); !s.ok()) return s;
      if (auto s = ReadSelector(r, where, rule.selector); !s.ok()) return s;
      if (!r.contains("kind") || !r["kind"].is_string() ||
          !kLineKinds.count(r["kind"].get<std::string>())) {
        return Bad(where,
                   "kind must be server_error|status_0|rate_limit|bad_request|malformed|length|"
                   "refusal|content_filter");
      }
      rule.fault.kind = r["kind"].get<std::string>();
      int64_t status = rule.fault.kind == "server_error"  ? 500
                       : rule.fault.kind == "bad_request" ? 400
                       : rule.fault.kind == "rate_limit"  ? 429
                                                          : 0;
      if (auto s = ReadInt(r, where, "status", status); !s.ok()) return s;
      rule.fault.status = static_cast<int>(status);
      if (r.contains("message")) {
        if (!r["message"].is_string()) return Bad(where, "message must be a string");
        rule.fault.message = r["message"].get<std::string>();
      }
      if (auto s = ReadInt(r, where, "attempts", rule.attempts); !s.ok()) return s;
      rules.lines.push_back(std::move(rule));
    }
  }
  if (config.contains("batches")) {
    for (size_t i = 0; i < config["batches"].size(); ++i) {
      const Json& r = config["batches"][i];
      const std::string where = "batches[" + std::to_string(i) + "]";
      if (auto s = CheckKeys(r, where, {"kind", "metadata", "after_lines", "ms"}); !s.ok()) {
        return s;
      }
      BatchRule rule;
      rule.config = WithoutCounters(r);
      if (auto s = ReadSelector(r, where, rule.selector); !s.ok()) return s;
      if (!r.contains("kind") || !r["kind"].is_string() ||
          !kBatchKinds.count(r["kind"].get<std::string>())) {
        return Bad(where,
                   "kind must be cannot_find_file|token_limit_exceeded|expire|stuck_finalizing");
      }
      rule.kind = r["kind"].get<std::string>();
      if (r.contains("metadata")) {
        if (!r["metadata"].is_object()) return Bad(where, "metadata must be an object");
        for (const auto& [key, pattern] : r["metadata"].items()) {
          if (!pattern.is_string()) return Bad(where, "metadata." + key + " must be a string");
          try {
            rule.metadata[key] = std::regex(pattern.get<std::string>(), std::regex::ECMAScript);
          } catch (const std::regex_error& e) {
            return Bad(where, "metadata." + key + " is not a valid regular expression");
          }
        }
      }
      if (auto s = ReadInt(r, where, "after_lines", rule.after_lines); !s.ok()) return s;
      if (auto s = ReadInt(r, where, "ms", rule.ms); !s.ok()) return s;
      if (rule.kind == "stuck_finalizing" && rule.ms <= 0) {
        return Bad(where, "stuck_finalizing needs ms > 0");
      }
      rules.batches.push_back(std::move(rule));
    }
  }
  return absl::OkStatus();
}

absl::Status FaultPlan::Configure(const Json& config) {
  Rules parsed;
  try {
    if (auto s = Parse(config, default_seed_, parsed); !s.ok()) return s;
  } catch (const std::exception& e) {
    // A field of the wrong JSON type.
    return absl::InvalidArgumentError(std::string("faults: ") + e.what());
  }
  std::lock_guard<std::mutex> lock(mu_);
  rules_ = std::move(parsed);
  rng_.seed(rules_.seed);
  return absl::OkStatus();
}

void FaultPlan::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_ = Rules();
  rules_.seed = default_seed_;
  rng_.seed(default_seed_);
}

Json FaultPlan::ToJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto with_counters = [](Json config, const Selector& s) {
    config["matched"] = s.matched;
    config["fired"] = s.fired;
    return config;
  };
  Json out = Json::object();
  out["seed"] = rules_.seed;
  out["http"] = Json::array();
  for (const auto& r : rules_.http) out["http"].push_back(with_counters(r.config, r.selector));
  out["lines"] = Json::array();
  for (const auto& r : rules_.lines) out["lines"].push_back(with_counters(r.config, r.selector));
  out["batches"] = Json::array();
  for (const auto& r : rules_.batches) {
    out["batches"].push_back(with_counters(r.config, r.selector));
  }
  return out;
}

absl::Status FaultPlan::Restore(const Json& saved) {
  if (auto s = Configure(saved); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto restore = [&saved](const char* list, auto& rules) {
    if (!saved.contains(list)) return;
    for (size_t i = 0; i < rules.size() && i < saved[list].size(); ++i) {
      const Json& rule = saved[list][i];
      if (rule.contains("matched") && rule["matched"].is_number_integer()) {
        rules[i].selector.matched = rule["matched"].get<int64_t>();
      }
      if (rule.contains("fired") && rule["fired"].is_number_integer()) {
        rules[i].selector.fired = rule["fired"].get<int64_t>();
      }
    }
  };
  restore("http", rules_.http);
  restore("lines", rules_.lines);
  restore("batches", rules_.batches);
  return absl::OkStatus();
}

bool FaultPlan::Select(Selector& s, double draw) {
  ++s.matched;
  if (s.count >= 0 && s.fired >= s.count) return false;
  if (s.matched <= s.skip) return false;
  if ((s.matched - s.skip) % s.every != 0) return false;
  if (draw >= s.probability) return false;
  ++s.fired;
  return true;
}

std::optional<HttpFault> FaultPlan::ForRequest(const std::string& method_and_path,
                                               FaultPhase phase) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& rule : rules_.http) {
    if (rule.phase != phase || !std::regex_search(method_and_path, rule.match)) continue;
    const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    if (Select(rule.selector, draw)) return rule.fault;
  }
  return std::nullopt;
}

std::optional<LineFault> FaultPlan::ForLine(const std::string& custom_id, int64_t attempt) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < rules_.lines.size(); ++i) {
    auto& rule = rules_.lines[i];
    if (rule.attempts >= 0 && attempt > rule.attempts) continue;
    if (!std::regex_search(custom_id, rule.custom_id)) continue;
    if (Select(rule.selector, HashDraw(rules_.seed, i, custom_id, attempt))) return rule.fault;
  }
  return std::nullopt;
}

BatchFaults FaultPlan::ForNewBatch(const Json& metadata) {
  std::lock_guard<std::mutex> lock(mu_);
  BatchFaults out;
  for (auto& rule : rules_.batches) {
    bool matches = true;
    for (const auto& [key, pattern] : rule.metadata) {
      if (!metadata.is_object() || !metadata.contains(key) || !metadata[key].is_string() ||
          !std::regex_search(metadata[key].get<std::string>(), pattern)) {
        matches = false;
        break;
      }
    }
    if (!matches) continue;
    const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    if (!Select(rule.selector, draw)) continue;
    if (rule.kind == "cannot_find_file") out.cannot_find_file = true;
    if (rule.kind == "token_limit_exceeded") out.token_limit_exceeded = true;
    if (rule.kind == "expire") out.expire_after_lines = rule.after_lines;
    if (rule.kind == "stuck_finalizing") out.extra_finalizing_ms += rule.ms;
  }
  return out;
}

}  // namespace batchscribe::emulator

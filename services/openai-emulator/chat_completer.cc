#include "services/openai-emulator/chat_completer.h"

#include <cstdio>
#include <regex>
#include <set>

#include "services/openai-emulator/base64.h"
#include "services/openai-emulator/image_tokens.h"

namespace batchscribe::emulator {
namespace {

constexpr int64_t kTokensPerMessage = 4;
constexpr int64_t kTokensPerReply = 3;
// An image_url or input_audio part: the emulator does not decode them, so they
// cost what a low-detail image costs gpt-4o.
constexpr int64_t kTokensPerMediaPart = 85;
// Reasoning models think before answering; a fixed amount keeps usage deterministic.
constexpr int64_t kReasoningTokens = 64;
constexpr char kRefusal[] = "I'm sorry, but I can't help with that request.";

std::string Fingerprint(const std::string& snapshot) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : snapshot) h = (h ^ c) * 1099511628211ULL;
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%010llx", static_cast<unsigned long long>(h & 0xFFFFFFFFFFULL));
  return std::string("fp_") + buf;
}

// Strict structured outputs accept a subset of JSON Schema: every object lists
// all its properties as required and forbids additional ones.
std::optional<std::string> CheckStrictSchema(const Json& schema, const std::string& context,
                                             int depth) {
  if (depth > 32 || !schema.is_object()) return std::nullopt;
  const bool is_object =
      schema.contains("properties") ||
      (schema.contains("type") &&
       (schema["type"] == "object" ||
        (schema["type"].is_array() && std::find(schema["type"].begin(), schema["type"].end(),
                                                "object") != schema["type"].end())));
  if (is_object) {
    if (!schema.contains("additionalProperties") || schema["additionalProperties"] != false) {
      return "In context=(" + context +
             "), 'additionalProperties' is required to be supplied and to be false.";
    }
    if (schema.contains("properties") && schema["properties"].is_object()) {
      std::set<std::string> required;
      if (schema.contains("required") && schema["required"].is_array()) {
        for (const auto& r : schema["required"]) {
          if (r.is_string()) required.insert(r.get<std::string>());
        }
      }
      for (const auto& [key, sub] : schema["properties"].items()) {
        if (!required.count(key)) {
          return "In context=(" + context +
                 "), 'required' is required to be supplied and to be an array including every "
                 "key in properties. Missing '" +
                 key + "'.";
        }
        std::string sub_context = context.empty() ? "" : context + ", ";
        if (auto err =
                CheckStrictSchema(sub, sub_context + "'properties', '" + key + "'", depth + 1)) {
          return err;
        }
      }
    }
  }
  std::string prefix = context.empty() ? "" : context + ", ";
  if (schema.contains("items")) {
    if (auto err = CheckStrictSchema(schema["items"], prefix + "'items'", depth + 1)) return err;
  }
  for (const char* key : {"anyOf", "oneOf", "allOf"}) {
    if (schema.contains(key) && schema[key].is_array()) {
      int i = 0;
      for (const auto& sub : schema[key]) {
        if (auto err = CheckStrictSchema(
                sub, prefix + "'" + key + "', '" + std::to_string(i++) + "'", depth + 1)) {
          return err;
        }
      }
    }
  }
  for (const char* key : {"$defs", "definitions"}) {
    if (schema.contains(key) && schema[key].is_object()) {
      for (const auto& [name, sub] : schema[key].items()) {
        if (auto err =
                CheckStrictSchema(sub, prefix + "'" + key + "', '" + name + "'", depth + 1)) {
          return err;
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<ApiError> CheckResponseFormat(const Json& format) {
  if (format.is_null()) return std::nullopt;
  if (!format.is_object()) return InvalidType("response_format", "an object", format);
  if (!format.contains("type")) return MissingParameter("response_format.type");
  const Json& type = format["type"];
  if (type == "text" || type == "json_object") return std::nullopt;
  if (type != "json_schema") {
    return InvalidRequest("Invalid value: '" +
                              (type.is_string() ? type.get<std::string>() : Dump(type)) +
                              "'. Supported values are: 'text', 'json_object', and 'json_schema'.",
                          "response_format.type", "invalid_value");
  }
  if (!format.contains("json_schema")) return MissingParameter("response_format.json_schema");
  const Json& spec = format["json_schema"];
  if (!spec.is_object()) return InvalidType("response_format.json_schema", "an object", spec);
  if (!spec.contains("name")) return MissingParameter("response_format.json_schema.name");
  static const std::regex kName("^[A-Za-z0-9_-]{1,64}$");
  if (!spec["name"].is_string() || !std::regex_match(spec["name"].get<std::string>(), kName)) {
    return InvalidRequest(
        "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a "
        "string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
        "response_format.json_schema.name", "invalid_value");
  }
  if (spec.contains("schema") && !spec["schema"].is_object()) {
    return InvalidType("response_format.json_schema.schema", "an object", spec["schema"]);
  }
  const bool strict = spec.contains("strict") && spec["strict"] == true;
  if (strict && spec.contains("schema")) {
    if (auto err = CheckStrictSchema(spec["schema"], "", 0)) {
      return InvalidRequest(
          "Invalid schema for response_format '" + spec["name"].get<std::string>() + "': " + *err,
          "response_format", "invalid_json_schema");
    }
  }
  return std::nullopt;
}

}  // namespace

int64_t TokensForBytes(size_t bytes) { return static_cast<int64_t>((bytes + 3) / 4); }

ChatCompleter::ChatCompleter(PdfTextReader* pdfs, IdGenerator* ids, const Clock* clock,
                             FileLoader load_file, PdfRequestLimits limits)
    : pdfs_(pdfs), ids_(ids), clock_(clock), load_file_(std::move(load_file)), limits_(limits) {}

std::optional<ApiError> ChatCompleter::CheckFileLimits(const std::string& param, int64_t part_pages,
                                                       int64_t part_bytes,
                                                       Prepared& prepared) const {
  const bool several = prepared.file_parts > 1;
  if (limits_.max_bytes > 0 && prepared.file_bytes > limits_.max_bytes) {
    prepared.over_limit = true;
    return InvalidRequest(
        "Invalid '" + param + "': " +
            (several ? "the request's files total " + FormatWithCommas(prepared.file_bytes)
                     : "the file is " + FormatWithCommas(part_bytes)) +
            " bytes; at most " + FormatWithCommas(limits_.max_bytes) +
            " bytes of file content are allowed per request.",
        param, "invalid_value");
  }
  if (limits_.max_pages > 0 && prepared.pdf_pages > limits_.max_pages) {
    prepared.over_limit = true;
    return InvalidRequest(
        "Invalid '" + param + "': " +
            (several ? "the request's PDFs have " + FormatWithCommas(prepared.pdf_pages) +
                           " pages in total"
                     : "the PDF has " + FormatWithCommas(part_pages) + " pages") +
            "; at most " + FormatWithCommas(limits_.max_pages) + " pages are allowed per request.",
        param, "invalid_value");
  }
  return std::nullopt;
}

std::optional<ApiError> ChatCompleter::ReadContentParts(const Json& parts, const std::string& where,
                                                        Prepared& prepared, int64_t& tokens) {
  for (size_t j = 0; j < parts.size(); ++j) {
    const Json& part = parts[j];
    const std::string param = where + ".content[" + std::to_string(j) + "]";
    if (!part.is_object()) return InvalidType(param, "an object", part);
    if (!part.contains("type") || !part["type"].is_string())
      return MissingParameter(param + ".type");
    const std::string type = part["type"].get<std::string>();
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string()) {
        return MissingParameter(param + ".text");
      }
      const std::string& text = part["text"].get_ref<const std::string&>();
      if (!prepared.doc.prompt_text.empty()) prepared.doc.prompt_text += "\n";
      prepared.doc.prompt_text += text;
      tokens += TokensForBytes(text.size());
    } else if (type == "image_url" || type == "input_audio") {
      tokens += kTokensPerMediaPart;
    } else if (type == "refusal") {
      if (part.contains("refusal") && part["refusal"].is_string()) {
        tokens += TokensForBytes(part["refusal"].get_ref<const std::string&>().size());
      }
    } else if (type == "file") {
      if (!part.contains("file") || !part["file"].is_object()) {
        return MissingParameter(param + ".file");
      }
      const Json& file = part["file"];
      std::string pdf_bytes;
      if (file.contains("file_data") && file["file_data"].is_string()) {
        const std::string& url = file["file_data"].get_ref<const std::string&>();
        const std::string fparam = param + ".file.file_data";
        const size_t comma = url.find(',');
        if (url.rfind("data:", 0) != 0 || comma == std::string::npos ||
            url.substr(0, comma).find(";base64") == std::string::npos) {
          return InvalidRequest(
              "Invalid 'file_data': expected a base64-encoded data URL "
              "(data:application/pdf;base64,...).",
              fparam, "invalid_value");
        }
        const std::string mime = url.substr(5, url.find(';') - 5);
        if (mime != "application/pdf") {
          return InvalidRequest("Invalid file data: '" + fparam +
                                    "'. Expected a PDF (application/pdf), but got '" + mime + "'.",
                                fparam, "invalid_value");
        }
        auto decoded = DecodeBase64(std::string_view(url).substr(comma + 1));
        if (!decoded) {
          return InvalidRequest("Invalid 'file_data': the data URL is not valid base64.", fparam,
                                "invalid_value");
        }
        pdf_bytes = std::move(*decoded);
      } else if (file.contains("file_id") && file["file_id"].is_string()) {
        const std::string id = file["file_id"].get<std::string>();
        auto loaded = load_file_ ? load_file_(id) : std::nullopt;
        if (!loaded) {
          return InvalidRequest("Invalid file id: '" + id + "'. No such file.",
                                param + ".file.file_id", "invalid_value");
        }
        pdf_bytes = std::move(*loaded);
      } else {
        return InvalidRequest(
            "Invalid '" + param + ".file': one of 'file_data' or 'file_id' must be provided.",
            param + ".file", "missing_required_parameter");
      }
      const int64_t part_bytes = static_cast<int64_t>(pdf_bytes.size());
      ++prepared.file_parts;
      prepared.file_bytes += part_bytes;
      // The byte limit is checked before the PDF is read, as a server would.
      if (auto err = CheckFileLimits(param + ".file", 0, part_bytes, prepared)) return err;
      auto pages = pdfs_->Pages(pdf_bytes);
      if (!pages.ok()) {
        return InvalidRequest("Invalid file: " + std::string(pages.status().message()) +
                                  ". Only PDF files are supported as file inputs.",
                              param + ".file", "invalid_value");
      }
      const int64_t part_pages = static_cast<int64_t>(pages->size());
      prepared.pdf_pages += part_pages;
      if (auto err = CheckFileLimits(param + ".file", part_pages, part_bytes, prepared)) {
        return err;
      }
      // The model sees each page's text layer and an image of the page.
      for (auto& page : *pages) {
        tokens += PageImageTokens(prepared.info.image_tokens, page.width_pt, page.height_pt) +
                  TokensForBytes(page.text.size());
        prepared.doc.pages.push_back(std::move(page.text));
      }
    } else {
      return InvalidRequest("Invalid value: '" + type +
                                "'. Supported values are: 'text', 'image_url', 'input_audio', "
                                "'refusal', and 'file'.",
                            param + ".type", "invalid_value");
    }
  }
  return std::nullopt;
}

ApiResult<ChatCompleter::Prepared> ChatCompleter::Prepare(const Json& request, bool& over_limit) {
  over_limit = false;
  if (!request.is_object()) return InvalidType("body", "an object", request);
  Prepared prepared;
  if (!request.contains("model") || request["model"].is_null() ||
      (request["model"].is_string() && request["model"].get_ref<const std::string&>().empty())) {
    return InvalidRequest("you must provide a model parameter");
  }
  if (!request["model"].is_string()) return InvalidType("model", "a string", request["model"]);
  prepared.model = request["model"].get<std::string>();
  prepared.info = LookupModel(prepared.model);

  if (!request.contains("messages")) return MissingParameter("messages");
  const Json& messages = request["messages"];
  if (!messages.is_array()) return InvalidType("messages", "an array", messages);
  if (messages.empty()) {
    return InvalidRequest(
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.",
        "messages", "empty_array");
  }
  static const std::set<std::string> kRoles = {"system",    "developer", "user",
                                               "assistant", "tool",      "function"};
  int64_t tokens = kTokensPerReply;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& message = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!message.is_object()) return InvalidType(where, "an object", message);
    if (!message.contains("role")) return MissingParameter(where + ".role");
    if (!message["role"].is_string() || !kRoles.count(message["role"].get<std::string>())) {
      return InvalidRequest("Invalid value: '" +
                                (message["role"].is_string() ? message["role"].get<std::string>()
                                                             : Dump(message["role"])) +
                                "'. Supported values are: 'system', 'assistant', 'user', "
                                "'function', 'tool', and 'developer'.",
                            where + ".role", "invalid_value");
    }
    tokens += kTokensPerMessage;
    if (!message.contains("content") || message["content"].is_null()) {
      if (message["role"] != "assistant") return MissingParameter(where + ".content");
      continue;
    }
    const Json& content = message["content"];
    if (content.is_string()) {
      const std::string& text = content.get_ref<const std::string&>();
      if (!prepared.doc.prompt_text.empty()) prepared.doc.prompt_text += "\n";
      prepared.doc.prompt_text += text;
      tokens += TokensForBytes(text.size());
    } else if (content.is_array()) {
      if (auto err = ReadContentParts(content, where, prepared, tokens)) {
        over_limit = prepared.over_limit;
        return *err;
      }
    } else {
      return InvalidType(where + ".content", "a string or an array", content);
    }
  }

  if (request.contains("response_format")) {
    if (auto err = CheckResponseFormat(request["response_format"])) return *err;
    prepared.response_format = request["response_format"];
    if (prepared.response_format.is_object() && prepared.response_format.contains("json_schema") &&
        prepared.response_format["json_schema"].contains("schema")) {
      tokens += TokensForBytes(Dump(prepared.response_format["json_schema"]["schema"]).size());
    }
  }

  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (!request.contains(key) || request[key].is_null()) continue;
    const Json& value = request[key];
    if (!value.is_number_integer()) return InvalidType(key, "an integer", value);
    if (std::string(key) == "max_tokens" && prepared.info.reasoning) {
      return InvalidRequest(
          "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
          "'max_completion_tokens' instead.",
          "max_tokens", "unsupported_parameter");
    }
    const int64_t max = value.get<int64_t>();
    if (max < 1) {
      return InvalidRequest("Invalid '" + std::string(key) + "': integer below minimum value. " +
                                "Expected a value >= 1, but got " + std::to_string(max) +
                                " instead.",
                            key, "integer_below_min_value");
    }
    if (max > prepared.info.max_output_tokens) {
      return InvalidRequest(
          "max_tokens is too large: " + std::to_string(max) + ". This model supports at most " +
              std::to_string(prepared.info.max_output_tokens) +
              " completion tokens, whereas you provided " + std::to_string(max) + ".",
          "max_tokens", "invalid_value");
    }
    // max_completion_tokens wins when both are given, as at OpenAI.
    if (!prepared.max_completion_tokens) prepared.max_completion_tokens = max;
  }

  if (request.contains("temperature") && !request["temperature"].is_null()) {
    const Json& t = request["temperature"];
    if (!t.is_number()) return InvalidType("temperature", "a number", t);
    const double value = t.get<double>();
    if (value < 0 || value > 2) {
      return InvalidRequest("Invalid 'temperature': expected a value between 0 and 2.",
                            "temperature", "invalid_value");
    }
    if (prepared.info.reasoning && value != 1.0) {
      return InvalidRequest("Unsupported value: 'temperature' does not support " + Dump(t) +
                                " with this model. Only the default (1) value is supported.",
                            "temperature", "unsupported_value");
    }
  }
  if (request.contains("stream") && request["stream"] == true) {
    return InvalidRequest("The openai-emulator does not stream responses; omit 'stream'.", "stream",
                          "unsupported_value");
  }
  if (request.contains("n") && !request["n"].is_null()) {
    const Json& n = request["n"];
    if (!n.is_number_integer()) return InvalidType("n", "an integer", n);
    if (n.get<int64_t>() < 1 || n.get<int64_t>() > 128) {
      return InvalidRequest("Invalid 'n': expected a value between 1 and 128.", "n",
                            "invalid_value");
    }
    prepared.choices = n.get<int64_t>();
  }

  if (tokens > prepared.info.context_tokens) {
    over_limit = true;
    return InvalidRequest(
        "This model's maximum context length is " + FormatWithCommas(prepared.info.context_tokens) +
            " tokens. However, your messages resulted in " + FormatWithCommas(tokens) +
            " tokens. Please reduce the length of the messages.",
        "messages", "context_length_exceeded");
  }
  prepared.prompt_tokens = tokens;
  return prepared;
}

int64_t ChatCompleter::CountPromptTokens(const Json& request) {
  bool over_limit = false;
  auto prepared = Prepare(request, over_limit);
  return prepared.ok() ? prepared.value().prompt_tokens : 0;
}

Completion ChatCompleter::Complete(const Json& request, const CompletionOverrides& overrides) {
  Completion out;
  if (request.is_object() && request.contains("model") && request["model"].is_string()) {
    out.model = request["model"].get<std::string>();
  }
  auto prepared_or = Prepare(request, out.over_limit);
  if (!prepared_or.ok()) {
    out.status_code = prepared_or.error().http_status;
    out.body = prepared_or.error().ToBody();
    return out;
  }
  const Prepared& p = prepared_or.value();
  const int64_t reasoning = p.info.reasoning ? kReasoningTokens : 0;
  const int64_t cap = p.max_completion_tokens.value_or(p.info.max_output_tokens);

  Json content = nullptr;
  Json refusal = nullptr;
  std::string finish_reason = "stop";
  int64_t completion_tokens = 0;
  if (overrides.refusal) {
    refusal = kRefusal;
    completion_tokens = reasoning + TokensForBytes(sizeof(kRefusal) - 1);
  } else if (overrides.content_filter) {
    finish_reason = "content_filter";
    completion_tokens = reasoning + 1;
  } else {
    std::string answer = WriteAnswer(p.doc, p.response_format);
    const int64_t visible = std::max<int64_t>(1, TokensForBytes(answer.size()));
    if (overrides.force_length) {
      // Half the answer: for JSON this is unparseable, as real truncations are.
      answer = TruncateUtf8(answer, answer.size() / 2);
      finish_reason = "length";
      completion_tokens = reasoning + std::max<int64_t>(1, visible / 2);
    } else if (reasoning + visible > cap) {
      const int64_t allowed = std::max<int64_t>(0, cap - reasoning);
      answer = TruncateUtf8(answer, static_cast<size_t>(allowed) * 4);
      finish_reason = "length";
      completion_tokens = cap;
    } else {
      completion_tokens = reasoning + visible;
    }
    content = std::move(answer);
  }

  Json choices = Json::array();
  for (int64_t i = 0; i < p.choices; ++i) {
    Json message = Json::object();
    message["role"] = "assistant";
    message["content"] = content;
    message["refusal"] = refusal;
    message["annotations"] = Json::array();
    Json choice = Json::object();
    choice["index"] = i;
    choice["message"] = std::move(message);
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = finish_reason;
    choices.push_back(std::move(choice));
  }
  const int64_t total_completion = completion_tokens * p.choices;

  Json usage = Json::object();
  usage["prompt_tokens"] = p.prompt_tokens;
  usage["completion_tokens"] = total_completion;
  usage["total_tokens"] = p.prompt_tokens + total_completion;
  usage["prompt_tokens_details"] = {{"cached_tokens", 0}, {"audio_tokens", 0}};
  usage["completion_tokens_details"] = {{"reasoning_tokens", reasoning * p.choices},
                                        {"audio_tokens", 0},
                                        {"accepted_prediction_tokens", 0},
                                        {"rejected_prediction_tokens", 0}};

  Json body = Json::object();
  body["id"] = ids_->ChatCompletionId();
  body["object"] = "chat.completion";
  body["created"] = clock_->NowSeconds();
  body["model"] = p.info.snapshot;
  body["choices"] = std::move(choices);
  body["usage"] = std::move(usage);
  body["service_tier"] = "default";
  body["system_fingerprint"] = Fingerprint(p.info.snapshot);
  out.body = std::move(body);
  out.prompt_tokens = p.prompt_tokens;
  out.completion_tokens = total_completion;
  out.reasoning_tokens = reasoning * p.choices;
  return out;
}

}  // namespace batchscribe::emulator

#include "services/openai-emulator/answer_writer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <string_view>

namespace batchscribe::emulator {
namespace {

constexpr int kMaxSchemaDepth = 16;

std::string JoinPages(const std::vector<std::string>& pages) {
  std::string out;
  for (const auto& page : pages) {
    if (page.empty()) continue;
    if (!out.empty()) out += "\n\n";
    out += page;
  }
  return out;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Follows local references ("#", "#/$defs/x", "#/definitions/x") inside `root`.
const Json* Resolve(const Json& root, const Json& schema) {
  const Json* current = &schema;
  for (int hops = 0; hops < kMaxSchemaDepth && current->is_object() && current->contains("$ref");
       ++hops) {
    const Json& ref = (*current)["$ref"];
    if (!ref.is_string()) return current;
    std::string pointer = ref.get<std::string>();
    if (pointer.empty() || pointer[0] != '#') return current;
    try {
      current = &root.at(Json::json_pointer(pointer.substr(1)));
    } catch (const std::exception&) {
      return current;
    }
  }
  return current;
}

// The types a schema allows, from "type" (string or array) or implied by keywords.
std::set<std::string> AllowedTypes(const Json& schema) {
  std::set<std::string> types;
  if (!schema.is_object()) return types;
  if (schema.contains("type")) {
    const Json& t = schema["type"];
    if (t.is_string()) types.insert(t.get<std::string>());
    if (t.is_array()) {
      for (const auto& v : t) {
        if (v.is_string()) types.insert(v.get<std::string>());
      }
    }
  } else if (schema.contains("properties")) {
    types.insert("object");
  } else if (schema.contains("items")) {
    types.insert("array");
  }
  return types;
}

bool IsPageItems(const Json& root, const Json& items) {
  const Json& resolved = *Resolve(root, items);
  if (!resolved.is_object() || !resolved.contains("properties")) return false;
  const Json& props = resolved["properties"];
  return props.is_object() && props.contains("page") && props.contains("text");
}

// Builds a value that validates against a (strict-mode subset) JSON schema,
// using the document's text where a property's name says what it holds.
class SchemaSampler {
 public:
  SchemaSampler(const Json& root, const DocumentText& doc)
      : root_(root),
        doc_(doc),
        full_text_(JoinPages(doc.pages)),
        title_(GuessTitle(doc.pages)),
        language_(GuessLanguage(full_text_.empty() ? doc.prompt_text : full_text_)) {}

  Json Sample(const Json& raw_schema, const std::string& name, int depth) {
    const Json& schema = *Resolve(root_, raw_schema);
    if (!schema.is_object()) return nullptr;
    // Recursive schemas and wide arrays could otherwise grow without bound.
    if (--budget_ < 0) depth = kMaxSchemaDepth + 1;
    if (schema.contains("const")) return schema["const"];
    if (schema.contains("enum") && schema["enum"].is_array() && !schema["enum"].empty()) {
      return schema["enum"][0];
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (schema.contains(key) && schema[key].is_array() && !schema[key].empty()) {
        return SampleAlternatives(schema[key], name, depth);
      }
    }
    if (schema.contains("allOf") && schema["allOf"].is_array() && !schema["allOf"].empty()) {
      Json merged = Json::object();
      for (const auto& part : schema["allOf"]) {
        Json v = Sample(part, name, depth + 1);
        if (v.is_object()) merged.update(v);
      }
      return merged;
    }
    std::set<std::string> types = AllowedTypes(schema);
    const bool nullable = types.count("null") > 0;
    if (depth > kMaxSchemaDepth) return nullable ? Json(nullptr) : Minimal(types);
    const std::string lname = Lower(name);
    if (types.count("object")) return SampleObject(schema, depth);
    if (types.count("array")) return SampleArray(schema, name, depth);
    if (types.count("string")) {
      if (Contains(lname, "title")) {
        if (title_) return Fit(*title_, schema);
        if (nullable) return nullptr;
      }
      if (lname == "language" || lname == "lang" || Contains(lname, "language_code")) {
        if (language_) return Fit(*language_, schema);
        if (nullable) return nullptr;
      }
      return SampleString(schema, lname);
    }
    if (types.count("integer")) return SampleInteger(schema, lname);
    if (types.count("number")) return SampleNumber(schema);
    if (types.count("boolean")) return true;
    return nullptr;
  }

 private:
  Json SampleAlternatives(const Json& alternatives, const std::string& name, int depth) {
    // Prefer the first branch that is not just null, like a model would.
    for (const auto& alt : alternatives) {
      std::set<std::string> t = AllowedTypes(*Resolve(root_, alt));
      if (!(t.size() == 1 && t.count("null"))) return Sample(alt, name, depth + 1);
    }
    return Sample(alternatives[0], name, depth + 1);
  }

  static Json Minimal(const std::set<std::string>& types) {
    if (types.count("object")) return Json::object();
    if (types.count("array")) return Json::array();
    if (types.count("string")) return "";
    if (types.count("integer") || types.count("number")) return 0;
    if (types.count("boolean")) return false;
    return nullptr;
  }

  Json SampleObject(const Json& schema, int depth) {
    Json out = Json::object();
    if (!schema.contains("properties") || !schema["properties"].is_object()) return out;
    for (const auto& [key, sub] : schema["properties"].items()) {
      out[key] = Sample(sub, key, depth + 1);
    }
    return out;
  }

  Json SampleArray(const Json& schema, const std::string& name, int depth) {
    Json out = Json::array();
    const Json items = schema.contains("items") ? schema["items"] : Json::object();
    if (IsPageItems(root_, items)) {
      const Json& page_schema = *Resolve(root_, items);
      for (size_t i = 0; i < doc_.pages.size(); ++i) {
        Json entry = Json::object();
        for (const auto& [key, sub] : page_schema["properties"].items()) {
          if (key == "page") {
            entry[key] = static_cast<int64_t>(i + 1);
          } else if (key == "text") {
            entry[key] = doc_.pages[i];
          } else {
            entry[key] = Sample(sub, key, depth + 2);
          }
        }
        out.push_back(std::move(entry));
      }
      return out;
    }
    int64_t count = 1;
    if (schema.contains("minItems") && schema["minItems"].is_number_integer()) {
      count = std::max<int64_t>(count, schema["minItems"].get<int64_t>());
    }
    if (schema.contains("maxItems") && schema["maxItems"].is_number_integer()) {
      count = std::min<int64_t>(count, schema["maxItems"].get<int64_t>());
    }
    count = std::min<int64_t>(count, 64);
    for (int64_t i = 0; i < count; ++i) out.push_back(Sample(items, name, depth + 1));
    return out;
  }

  Json SampleString(const Json& schema, const std::string& lname) {
    if (schema.contains("format") && schema["format"].is_string()) {
      const std::string format = schema["format"].get<std::string>();
      if (format == "date") return "2024-01-01";
      if (format == "date-time") return "2024-01-01T00:00:00Z";
      if (format == "time") return "00:00:00";
      if (format == "email") return "someone@example.com";
      if (format == "uri" || format == "url") return "https://example.com/";
      if (format == "uuid") return "00000000-0000-4000-8000-000000000000";
    }
    static constexpr std::array<std::string_view, 7> kTextNames = {
        "text", "content", "summary", "description", "body", "transcript", "answer"};
    for (auto text_name : kTextNames) {
      if (Contains(lname, text_name)) {
        return Fit(full_text_.empty() ? TruncateUtf8(doc_.prompt_text, 400) : full_text_, schema);
      }
    }
    return Fit(lname.empty() ? std::string("example") : "example " + lname, schema);
  }

  static Json Fit(std::string text, const Json& schema) {
    if (schema.contains("minLength") && schema["minLength"].is_number_integer()) {
      const int64_t min = std::min<int64_t>(schema["minLength"].get<int64_t>(), 1 << 20);
      // minLength counts characters; padding with ASCII keeps bytes == chars.
      while (static_cast<int64_t>(text.size()) < min) text += '.';
    }
    if (schema.contains("maxLength") && schema["maxLength"].is_number_integer()) {
      const int64_t max = schema["maxLength"].get<int64_t>();
      if (max >= 0) text = TruncateUtf8(text, static_cast<size_t>(max));
    }
    return text;
  }

  Json SampleInteger(const Json& schema, const std::string& lname) {
    int64_t value = 1;
    if (Contains(lname, "page_count") || lname == "pages" || lname == "page_total") {
      value = static_cast<int64_t>(doc_.pages.size());
    }
    if (schema.contains("minimum") && schema["minimum"].is_number()) {
      value = std::max<int64_t>(value, static_cast<int64_t>(schema["minimum"].get<double>()));
    }
    if (schema.contains("exclusiveMinimum") && schema["exclusiveMinimum"].is_number()) {
      value = std::max<int64_t>(value,
                                static_cast<int64_t>(schema["exclusiveMinimum"].get<double>()) + 1);
    }
    if (schema.contains("maximum") && schema["maximum"].is_number()) {
      value = std::min<int64_t>(value, static_cast<int64_t>(schema["maximum"].get<double>()));
    }
    return value;
  }

  static Json SampleNumber(const Json& schema) {
    double value = 1.0;
    if (schema.contains("minimum") && schema["minimum"].is_number()) {
      value = std::max(value, schema["minimum"].get<double>());
    }
    if (schema.contains("exclusiveMinimum") && schema["exclusiveMinimum"].is_number()) {
      value = std::max(value, schema["exclusiveMinimum"].get<double>() + 1.0);
    }
    if (schema.contains("maximum") && schema["maximum"].is_number()) {
      value = std::min(value, schema["maximum"].get<double>());
    }
    return value;
  }

  const Json& root_;
  const DocumentText& doc_;
  int64_t budget_ = 4000;  // values generated at most
  std::string full_text_;
  std::optional<std::string> title_;
  std::optional<std::string> language_;
};

}  // namespace

std::string TruncateUtf8(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;
  // Step back over continuation bytes (10xxxxxx) to a character start.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

bool IsTranscriptSchema(const Json& schema) {
  if (!schema.is_object() || !schema.contains("properties")) return false;
  const Json& props = schema["properties"];
  if (!props.is_object() || !props.contains("pages")) return false;
  const Json& pages = *Resolve(schema, props["pages"]);
  return pages.is_object() && pages.contains("items") && IsPageItems(schema, pages["items"]);
}

std::optional<std::string> GuessTitle(const std::vector<std::string>& pages) {
  for (const auto& page : pages) {
    size_t start = 0;
    while (start < page.size()) {
      size_t end = page.find('\n', start);
      if (end == std::string::npos) end = page.size();
      std::string line = page.substr(start, end - start);
      size_t first = line.find_first_not_of(" \t\r\f");
      if (first != std::string::npos) {
        size_t last = line.find_last_not_of(" \t\r\f");
        return TruncateUtf8(line.substr(first, last - first + 1), 120);
      }
      start = end + 1;
    }
  }
  return std::nullopt;
}

std::optional<std::string> GuessLanguage(const std::string& text) {
  static const std::map<std::string, std::set<std::string>> kCommonWords = {
      {"en", {"the", "and", "of", "to", "is", "in", "that", "with", "for", "this"}},
      {"de", {"der", "die", "und", "das", "ist", "nicht", "mit", "ein", "eine", "zu"}},
      {"fr", {"le", "les", "et", "est", "des", "une", "du", "que", "pour", "dans"}},
      {"es", {"el", "los", "las", "y", "es", "del", "que", "por", "una", "con"}},
      {"it", {"il", "che", "di", "una", "della", "per", "non", "sono", "gli", "con"}},
      {"nl", {"het", "een", "van", "en", "niet", "zijn", "voor", "met", "ook", "dat"}},
      {"pt", {"o", "os", "da", "do", "que", "uma", "para", "com", "não", "em"}},
  };
  std::map<std::string, int> scores;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    for (const auto& [lang, words] : kCommonWords) {
      if (words.count(word)) ++scores[lang];
    }
    word.clear();
  };
  // Only the first 64 KiB: enough to decide, bounded for huge documents.
  const size_t limit = std::min<size_t>(text.size(), 64 * 1024);
  for (size_t i = 0; i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (std::isalpha(c) || c >= 0x80) {
      word += static_cast<char>(std::tolower(c));
    } else {
      flush();
    }
  }
  flush();
  std::optional<std::string> best;
  int best_score = 0;
  for (const auto& [lang, score] : scores) {
    if (score > best_score) {
      best = lang;
      best_score = score;
    }
  }
  return best;
}

std::string WriteAnswer(const DocumentText& doc, const Json& response_format) {
  std::string type = "text";
  if (response_format.is_object() && response_format.contains("type") &&
      response_format["type"].is_string()) {
    type = response_format["type"].get<std::string>();
  }
  const std::string full_text = JoinPages(doc.pages);
  if (type == "json_schema") {
    const Json spec = response_format.value("json_schema", Json::object());
    const Json schema =
        spec.is_object() && spec.contains("schema") ? spec["schema"] : Json::object();
    SchemaSampler sampler(schema, doc);
    return Dump(sampler.Sample(schema, "", 0));
  }
  if (type == "json_object") {
    Json answer = Json::object();
    answer["text"] = full_text.empty() ? doc.prompt_text : full_text;
    return Dump(answer);
  }
  if (!full_text.empty()) return full_text;
  if (!doc.pages.empty()) return "The document has no text layer.";
  return "This is the emulator's answer to: " + TruncateUtf8(doc.prompt_text, 200);
}

}  // namespace batchscribe::emulator

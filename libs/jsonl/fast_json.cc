#include "libs/jsonl/fast_json.h"

#include <simdjson.h>

namespace batchscribe::jsonl {
namespace {

template <typename Json>
Json Convert(simdjson::dom::element element) {
  switch (element.type()) {
    case simdjson::dom::element_type::OBJECT: {
      Json object = Json::object();
      // operator[]: a repeated key keeps its last value, as nlohmann does.
      for (auto field : simdjson::dom::object(element)) {
        object[std::string(field.key)] = Convert<Json>(field.value);
      }
      return object;
    }
    case simdjson::dom::element_type::ARRAY: {
      Json array = Json::array();
      for (auto item : simdjson::dom::array(element)) array.push_back(Convert<Json>(item));
      return array;
    }
    case simdjson::dom::element_type::STRING:
      return std::string(std::string_view(element));
    case simdjson::dom::element_type::INT64: {
      // nlohmann stores non-negative integers as unsigned.
      const int64_t v = int64_t(element);
      return v >= 0 ? Json(static_cast<uint64_t>(v)) : Json(v);
    }
    case simdjson::dom::element_type::UINT64:
      return uint64_t(element);
    case simdjson::dom::element_type::DOUBLE:
      return double(element);
    case simdjson::dom::element_type::BOOL:
      return bool(element);
    case simdjson::dom::element_type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

}  // namespace

template <typename Json>
Json ParseJsonAs(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  // realloc_if_needed: the text is copied into a padded buffer when needed.
  if (parser.parse(text.data(), text.size(), true).get(root) == simdjson::SUCCESS) {
    return Convert<Json>(root);
  }
  return Json::parse(text.begin(), text.end(), nullptr, false);
}

template nlohmann::json ParseJsonAs<nlohmann::json>(std::string_view);
template nlohmann::ordered_json ParseJsonAs<nlohmann::ordered_json>(std::string_view);

}  // namespace batchscribe::jsonl

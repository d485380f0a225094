#include "services/coordinator/response_schema.h"

#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace batchscribe::coordinator {
namespace {

using nlohmann::json;

absl::Status Invalid(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError((where.empty() ? std::string("schema root") : where) + ": " +
                                    what);
}

bool IsKnownType(const json& value) {
  static const std::set<std::string> kTypes = {"string", "number", "integer", "boolean",
                                               "object", "array",  "null"};
  return value.is_string() && kTypes.count(value.get<std::string>()) > 0;
}

bool HasType(const json& schema, const std::string& type) {
  auto it = schema.find("type");
  if (it == schema.end()) return false;
  if (it->is_string()) return *it == type;
  if (it->is_array()) {
    for (const auto& t : *it) {
      if (t == type) return true;
    }
  }
  return false;
}

absl::Status Check(const json& schema, const std::string& where, int depth) {
  if (depth > 64) return Invalid(where, "schema is nested too deeply");
  if (!schema.is_object()) return Invalid(where, "a schema must be a JSON object");
  if (auto type = schema.find("type"); type != schema.end()) {
    if (type->is_array()) {
      if (type->empty()) return Invalid(where, "\"type\" is an empty list");
      for (const auto& t : *type) {
        if (!IsKnownType(t)) return Invalid(where, "\"type\" has an unknown type");
      }
    } else if (!IsKnownType(*type)) {
      return Invalid(where, "\"type\" must be a JSON Schema type name");
    }
  }
  bool is_object = HasType(schema, "object") || schema.contains("properties");
  if (is_object) {
    auto additional = schema.find("additionalProperties");
    if (additional == schema.end() || *additional != false) {
      return Invalid(where, "strict mode needs \"additionalProperties\": false on every object");
    }
    const json empty = json::object();
    const json& properties = schema.contains("properties") ? schema["properties"] : empty;
    if (!properties.is_object()) return Invalid(where, "\"properties\" must be an object");
    std::set<std::string> required;
    if (auto req = schema.find("required"); req != schema.end()) {
      if (!req->is_array()) return Invalid(where, "\"required\" must be a list");
      for (const auto& name : *req) {
        if (!name.is_string()) return Invalid(where, "\"required\" must list property names");
        required.insert(name.get<std::string>());
      }
    }
    for (const auto& [name, child] : properties.items()) {
      if (required.count(name) == 0) {
        return Invalid(where, "strict mode needs every property in \"required\" (missing \"" +
                                  name + "\"; make it optional with a [\"T\", \"null\"] type)");
      }
      if (absl::Status s = Check(child, where + "/properties/" + name, depth + 1); !s.ok()) {
        return s;
      }
    }
  }
  if (auto items = schema.find("items"); items != schema.end()) {
    if (absl::Status s = Check(*items, where + "/items", depth + 1); !s.ok()) return s;
  }
  for (const char* list : {"anyOf", "allOf", "oneOf", "prefixItems"}) {
    if (auto it = schema.find(list); it != schema.end()) {
      if (!it->is_array()) return Invalid(where, std::string("\"") + list + "\" must be a list");
      for (std::size_t i = 0; i < it->size(); ++i) {
        std::string at = where + "/" + list + "/" + std::to_string(i);
        if (absl::Status s = Check((*it)[i], at, depth + 1); !s.ok()) return s;
      }
    }
  }
  for (const char* defs : {"$defs", "definitions"}) {
    if (auto it = schema.find(defs); it != schema.end()) {
      if (!it->is_object())
        return Invalid(where, std::string("\"") + defs + "\" must be an object");
      for (const auto& [name, child] : it->items()) {
        if (absl::Status s = Check(child, where + "/" + defs + "/" + name, depth + 1); !s.ok()) {
          return s;
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateResponseSchema(std::string_view schema_text) {
  json schema = json::parse(schema_text, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return absl::InvalidArgumentError("is not valid JSON");
  if (!schema.is_object()) return absl::InvalidArgumentError("must be a JSON object");
  auto type = schema.find("type");
  if (type == schema.end() || *type != "object") {
    return absl::InvalidArgumentError("the root schema must have \"type\": \"object\"");
  }
  return Check(schema, "", 0);
}

}  // namespace batchscribe::coordinator

#include "services/coordinator/response_schema.h"

#include <gtest/gtest.h>

#include "services/coordinator/defaults.h"

namespace batchscribe::coordinator {
namespace {

TEST(ValidateResponseSchema, AcceptsTheShippedSchemaAndStrictSchemas) {
  EXPECT_TRUE(ValidateResponseSchema(DefaultJsonSchema()).ok());
  EXPECT_TRUE(ValidateResponseSchema(R"({"type":"object","properties":{},
      "additionalProperties":false})")
                  .ok());
  EXPECT_TRUE(ValidateResponseSchema(R"({
      "type": "object",
      "properties": {
        "total": {"type": "number"},
        "note": {"type": ["string", "null"]},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
        "kind": {"anyOf": [{"type": "string"}, {"type": "object", "properties": {
          "x": {"type": "integer"}}, "required": ["x"], "additionalProperties": false}]}
      },
      "required": ["total", "note", "items", "kind"],
      "additionalProperties": false,
      "$defs": {"item": {"type": "object", "properties": {"name": {"type": "string"}},
                         "required": ["name"], "additionalProperties": false}}
    })")
                  .ok());
}

TEST(ValidateResponseSchema, RejectsWhatStrictModeRejects) {
  for (const char* schema : {
           "",
           "not json",
           "[]",
           R"("object")",
           R"({"type":"array","items":{"type":"string"}})",
           R"({"properties":{}})",
           // additionalProperties missing or true
           R"({"type":"object","properties":{"a":{"type":"string"}},"required":["a"]})",
           R"({"type":"object","properties":{},"additionalProperties":true})",
           // property not required
           R"({"type":"object","properties":{"a":{"type":"string"}},"required":[],
               "additionalProperties":false})",
           // nested object not strict
           R"({"type":"object","properties":{"o":{"type":"object","properties":{
               "b":{"type":"string"}}}},"required":["o"],"additionalProperties":false})",
           // inside array items
           R"({"type":"object","properties":{"l":{"type":"array","items":{"type":"object",
               "properties":{"c":{"type":"string"}},"required":[]}}}},"required":["l"],
               "additionalProperties":false})",
           // unknown type
           R"({"type":"object","properties":{"a":{"type":"text"}},"required":["a"],
               "additionalProperties":false})",
       }) {
    EXPECT_EQ(ValidateResponseSchema(schema).code(), absl::StatusCode::kInvalidArgument) << schema;
  }
}

TEST(ValidateResponseSchema, SaysWhere) {
  auto status = ValidateResponseSchema(
      R"({"type":"object","properties":{"o":{"type":"object","properties":{
          "b":{"type":"string"}},"required":["b"]}},"required":["o"],
          "additionalProperties":false})");
  EXPECT_NE(std::string(status.message()).find("/properties/o"), std::string::npos)
      << status.message();
}

}  // namespace
}  // namespace batchscribe::coordinator

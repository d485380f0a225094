// The emulated model: answers, usage and request validation.

#include <gtest/gtest.h>

#include "services/openai-emulator/base64.h"
#include "services/openai-emulator/chat_completer.h"
#include "tests/emulator/harness.h"

namespace batchscribe::emulator {
namespace {

using testing::FakeClock;
using testing::MakePdf;
using testing::SchemaErrors;
using testing::TranscriptRequest;
using testing::TranscriptSchema;

class CompleterTest : public ::testing::Test {
 protected:
  CompleterTest()
      : completer_(&pdfs_, &ids_, &clock_,
                   [this](const std::string& id) -> std::optional<std::string> {
                     auto it = uploaded_.find(id);
                     if (it == uploaded_.end()) return std::nullopt;
                     return it->second;
                   }) {}

  static std::string Content(const Completion& c) {
    return c.body["choices"][0]["message"]["content"].get<std::string>();
  }

  PdfTextReader pdfs_;
  IdGenerator ids_;
  FakeClock clock_;
  std::map<std::string, std::string> uploaded_;
  ChatCompleter completer_;
};

TEST(Base64Test, RoundTripsAndRejectsJunk) {
  const std::string bytes("\x00\x01\xfe\xffhello world", 15);
  EXPECT_EQ(DecodeBase64(EncodeBase64(bytes)), bytes);
  EXPECT_EQ(DecodeBase64("aGVs\nbG8="), "hello");
  EXPECT_EQ(DecodeBase64("aGVsbG8"), "hello");  // padding is optional
  EXPECT_FALSE(DecodeBase64("aGV*bG8="));
  EXPECT_FALSE(DecodeBase64("a"));
}

TEST(PdfTextReaderTest, ReadsPagesAndCachesByContent) {
  for (size_t cache : {size_t{0}, size_t{1} << 20}) {
    PdfTextReader reader(cache);
    const std::string a = MakePdf({"first", "second"});
    const std::string b = MakePdf({"other"});
    for (int round = 0; round < 2; ++round) {
      EXPECT_EQ(*reader.Pages(a), (std::vector<std::string>{"first", "second"})) << cache;
      EXPECT_EQ(*reader.Pages(b), (std::vector<std::string>{"other"})) << cache;
    }
    EXPECT_FALSE(reader.Pages("%PDF-1.4 truncated").ok());
    EXPECT_FALSE(reader.Pages("plain text").ok());
  }
}

TEST_F(CompleterTest, TranscriptAnswerHasOnePageEntryPerPdfPage) {
  const std::string pdf = MakePdf({"Annual Report 2025\nThe results of the year are good.",
                                   "Second page with the figures and the notes.", ""});
  Completion c = completer_.Complete(TranscriptRequest(pdf));
  ASSERT_EQ(c.status_code, 200) << Dump(c.body);
  EXPECT_EQ(c.body["object"], "chat.completion");
  EXPECT_EQ(c.body["model"], "gpt-4.1-mini-2025-04-14");
  EXPECT_EQ(c.body["choices"][0]["finish_reason"], "stop");
  const Json answer = ParseJson(Content(c));
  ASSERT_TRUE(answer.is_object()) << Content(c);
  EXPECT_EQ(SchemaErrors(TranscriptSchema(), answer), "");
  ASSERT_EQ(answer["pages"].size(), 3u);
  EXPECT_EQ(answer["pages"][0]["page"], 1);
  EXPECT_EQ(answer["pages"][0]["text"], "Annual Report 2025\nThe results of the year are good.");
  EXPECT_EQ(answer["pages"][1]["text"], "Second page with the figures and the notes.");
  EXPECT_EQ(answer["pages"][2]["text"], "");
  EXPECT_EQ(answer["title"], "Annual Report 2025");
  EXPECT_EQ(answer["language"], "en");
}

TEST_F(CompleterTest, OtherSchemasGetAPlausibleValidAnswer) {
  const Json schema = ParseJson(R"({
    "type": "object",
    "properties": {
      "invoice_number": {"type": "string"},
      "total": {"type": "number", "minimum": 10},
      "currency": {"type": "string", "enum": ["EUR", "USD"]},
      "issued": {"type": "string", "format": "date"},
      "paid": {"type": "boolean"},
      "note": {"type": ["string", "null"]},
      "summary": {"type": "string"},
      "lines": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/line"}},
      "vendor": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/vendor"}]}
    },
    "required": ["invoice_number", "total", "currency", "issued", "paid", "note", "summary",
                 "lines", "vendor"],
    "additionalProperties": false,
    "$defs": {
      "line": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1},
               "label": {"type": "string", "maxLength": 5}}, "required": ["qty", "label"],
               "additionalProperties": false},
      "vendor": {"type": "object", "properties": {"name": {"type": "string"}},
                 "required": ["name"], "additionalProperties": false}
    }
  })");
  Json request = TranscriptRequest(MakePdf({"Invoice 42 from ACME"}));
  request["response_format"]["json_schema"] = {
      {"name", "invoice"}, {"strict", true}, {"schema", schema}};
  Completion c = completer_.Complete(request);
  ASSERT_EQ(c.status_code, 200) << Dump(c.body);
  const Json answer = ParseJson(Content(c));
  EXPECT_EQ(SchemaErrors(schema, answer), "") << Dump(answer);
  EXPECT_EQ(answer["summary"], "Invoice 42 from ACME");
  EXPECT_EQ(answer["lines"].size(), 2u);
  // Deterministic: the same request gives the same answer.
  EXPECT_EQ(Content(completer_.Complete(request)), Content(c));
}

TEST_F(CompleterTest, RecursiveSchemasStayBounded) {
  Json props = Json::object();
  for (int i = 0; i < 12; ++i) props["child" + std::to_string(i)] = {{"$ref", "#"}};
  const Json schema = {{"type", "object"},
                       {"properties", props},
                       {"required", Json::array()},
                       {"additionalProperties", false}};
  Json request = TranscriptRequest(MakePdf({"x"}));
  request["response_format"]["json_schema"] = {{"name", "tree"}, {"schema", schema}};
  request.erase("max_completion_tokens");
  Completion c = completer_.Complete(request);
  ASSERT_EQ(c.status_code, 200);
  EXPECT_EQ(c.body["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(ParseJson(Content(c)).is_object());
  EXPECT_LT(Content(c).size(), 4u * 1024 * 1024);
}

TEST_F(CompleterTest, PlainTextAndJsonObjectAnswers) {
  Json request = TranscriptRequest(MakePdf({"Hello there", "General Kenobi"}));
  request.erase("response_format");
  Completion text = completer_.Complete(request);
  ASSERT_EQ(text.status_code, 200);
  EXPECT_EQ(Content(text), "Hello there\n\nGeneral Kenobi");

  request["response_format"] = {{"type", "json_object"}};
  Completion object = completer_.Complete(request);
  ASSERT_EQ(object.status_code, 200);
  EXPECT_EQ(ParseJson(Content(object))["text"], "Hello there\n\nGeneral Kenobi");

  Json chat = {{"model", "gpt-4o-mini"},
               {"messages", Json::array({{{"role", "user"}, {"content", "What is 2+2?"}}})}};
  Completion plain = completer_.Complete(chat);
  ASSERT_EQ(plain.status_code, 200);
  EXPECT_NE(Content(plain).find("What is 2+2?"), std::string::npos);
}

TEST_F(CompleterTest, UsageIsADeterministicFunctionOfInputAndOutput) {
  const Json one = TranscriptRequest(MakePdf({"Some words on a page"}));
  const Json two = TranscriptRequest(MakePdf({"Some words on a page", "And another page"}));
  Completion a = completer_.Complete(one);
  Completion b = completer_.Complete(one);
  Completion c = completer_.Complete(two);
  EXPECT_EQ(a.body["usage"], b.body["usage"]);
  EXPECT_GT(c.prompt_tokens, a.prompt_tokens);
  EXPECT_GT(c.completion_tokens, a.completion_tokens);
  EXPECT_EQ(a.body["usage"]["total_tokens"].get<int64_t>(),
            a.body["usage"]["prompt_tokens"].get<int64_t>() +
                a.body["usage"]["completion_tokens"].get<int64_t>());
  EXPECT_EQ(a.prompt_tokens, completer_.CountPromptTokens(one));
  EXPECT_EQ(a.completion_tokens, (static_cast<int64_t>(Content(a).size()) + 3) / 4);
}

TEST_F(CompleterTest, TooFewCompletionTokensTruncateWithLength) {
  Json request = TranscriptRequest(MakePdf({"A page with enough text to need many tokens."}));
  request["max_completion_tokens"] = 5;
  Completion c = completer_.Complete(request);
  ASSERT_EQ(c.status_code, 200);
  EXPECT_EQ(c.body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(c.completion_tokens, 5);
  EXPECT_LE(Content(c).size(), 20u);
  EXPECT_TRUE(ParseJson(Content(c)).is_discarded());
}

TEST_F(CompleterTest, ReasoningModelsSpendReasoningTokens) {
  Completion c = completer_.Complete(TranscriptRequest(MakePdf({"Text"}), "gpt-5-mini"));
  ASSERT_EQ(c.status_code, 200) << Dump(c.body);
  EXPECT_EQ(c.body["model"], "gpt-5-mini-2025-08-07");
  EXPECT_EQ(c.reasoning_tokens, 64);
  EXPECT_EQ(c.body["usage"]["completion_tokens_details"]["reasoning_tokens"], 64);
  EXPECT_GT(c.completion_tokens, 64);
}

TEST_F(CompleterTest, OverridesForceRefusalFilterAndTruncation) {
  const Json request = TranscriptRequest(MakePdf({"Some text that is long enough to be cut"}));
  CompletionOverrides refusal;
  refusal.refusal = true;
  Completion r = completer_.Complete(request, refusal);
  EXPECT_TRUE(r.body["choices"][0]["message"]["content"].is_null());
  EXPECT_TRUE(r.body["choices"][0]["message"]["refusal"].is_string());
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "stop");

  CompletionOverrides filter;
  filter.content_filter = true;
  EXPECT_EQ(completer_.Complete(request, filter).body["choices"][0]["finish_reason"],
            "content_filter");

  CompletionOverrides length;
  length.force_length = true;
  Completion l = completer_.Complete(request, length);
  EXPECT_EQ(l.body["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(ParseJson(Content(l)).is_discarded());
}

TEST_F(CompleterTest, FileIdPartsReadUploadedFiles) {
  uploaded_["file-abc"] = MakePdf({"From an uploaded file"});
  Json request = TranscriptRequest(MakePdf({"x"}));
  request["messages"][1]["content"][1]["file"] = {{"file_id", "file-abc"}};
  Completion c = completer_.Complete(request);
  ASSERT_EQ(c.status_code, 200) << Dump(c.body);
  EXPECT_EQ(ParseJson(Content(c))["pages"][0]["text"], "From an uploaded file");
  request["messages"][1]["content"][1]["file"] = {{"file_id", "file-missing"}};
  EXPECT_EQ(completer_.Complete(request).status_code, 400);
}

struct BadRequestCase {
  const char* name;
  std::function<void(Json&)> mutate;
  const char* param;  // expected error.param (nullptr: null)
};

TEST_F(CompleterTest, RejectsInvalidRequestsLikeOpenAi) {
  const std::vector<BadRequestCase> cases = {
      {"no model", [](Json& r) { r.erase("model"); }, nullptr},
      {"no messages", [](Json& r) { r.erase("messages"); }, "messages"},
      {"empty messages", [](Json& r) { r["messages"] = Json::array(); }, "messages"},
      {"bad role", [](Json& r) { r["messages"][0]["role"] = "robot"; }, "messages[0].role"},
      {"bad base64",
       [](Json& r) {
         r["messages"][1]["content"][1]["file"]["file_data"] = "data:application/pdf;base64,@@@";
       },
       "messages[1].content[1].file.file_data"},
      {"not a pdf mime",
       [](Json& r) {
         r["messages"][1]["content"][1]["file"]["file_data"] = "data:image/png;base64,AAAA";
       },
       "messages[1].content[1].file.file_data"},
      {"not a pdf",
       [](Json& r) {
         r["messages"][1]["content"][1]["file"]["file_data"] =
             "data:application/pdf;base64," + EncodeBase64("just text");
       },
       "messages[1].content[1].file"},
      {"strict schema without additionalProperties",
       [](Json& r) { r["response_format"]["json_schema"]["schema"].erase("additionalProperties"); },
       "response_format"},
      {"strict schema with optional property",
       [](Json& r) { r["response_format"]["json_schema"]["schema"]["required"] = {"pages"}; },
       "response_format"},
      {"bad schema name",
       [](Json& r) { r["response_format"]["json_schema"]["name"] = "has spaces"; },
       "response_format.json_schema.name"},
      {"temperature on a reasoning model",
       [](Json& r) {
         r["model"] = "gpt-5-mini";
         r["temperature"] = 0;
       },
       "temperature"},
      {"max_tokens on a reasoning model",
       [](Json& r) {
         r["model"] = "gpt-5-nano";
         r.erase("max_completion_tokens");
         r["max_tokens"] = 100;
       },
       "max_tokens"},
      {"too many completion tokens", [](Json& r) { r["max_completion_tokens"] = 1000000; },
       "max_tokens"},
      {"streaming", [](Json& r) { r["stream"] = true; }, "stream"},
  };
  const Json valid = TranscriptRequest(MakePdf({"page"}));
  ASSERT_EQ(completer_.Complete(valid).status_code, 200);
  for (const auto& c : cases) {
    Json request = valid;
    c.mutate(request);
    Completion result = completer_.Complete(request);
    EXPECT_EQ(result.status_code, 400) << c.name;
    const Json& error = result.body["error"];
    EXPECT_EQ(error["type"], "invalid_request_error") << c.name;
    EXPECT_TRUE(error["message"].is_string()) << c.name;
    if (c.param == nullptr) {
      EXPECT_TRUE(error["param"].is_null()) << c.name << " " << Dump(error);
    } else {
      EXPECT_EQ(error["param"], c.param) << c.name << " " << Dump(error);
    }
    EXPECT_EQ(result.prompt_tokens, 0) << c.name;
  }
}

TEST_F(CompleterTest, ContextLengthIsEnforced) {
  Json request = {
      {"model", "gpt-4o-mini"},
      {"messages", Json::array({{{"role", "user"}, {"content", std::string(600 * 1024, 'a')}}})}};
  Completion c = completer_.Complete(request);
  EXPECT_EQ(c.status_code, 400);
  EXPECT_EQ(c.body["error"]["code"], "context_length_exceeded");
}

}  // namespace
}  // namespace batchscribe::emulator

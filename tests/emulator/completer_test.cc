// The emulated model: answers, usage and request validation.

#include <gtest/gtest.h>

#include "services/openai-emulator/base64.h"
#include "services/openai-emulator/chat_completer.h"
#include "services/openai-emulator/image_tokens.h"
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
    const auto texts = [&reader](const std::string& pdf) {
      std::vector<std::string> out;
      // Moved out of the StatusOr: GCC 12 at -O2 reports a false
      // -Wmaybe-uninitialized when iterating inside it.
      absl::StatusOr<std::vector<PdfPage>> pages = reader.Pages(pdf);
      if (!pages.ok()) return out;
      const std::vector<PdfPage> list = *std::move(pages);
      for (const PdfPage& page : list) out.push_back(page.text);
      return out;
    };
    for (int round = 0; round < 2; ++round) {
      EXPECT_EQ(texts(a), (std::vector<std::string>{"first", "second"})) << cache;
      EXPECT_EQ(texts(b), (std::vector<std::string>{"other"})) << cache;
    }
    const auto pages = reader.Pages(MakePdf({"x"}, 288, 400.5));
    ASSERT_TRUE(pages.ok());
    EXPECT_DOUBLE_EQ((*pages)[0].width_pt, 288);
    EXPECT_DOUBLE_EQ((*pages)[0].height_pt, 400.5);
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

TEST(ImageTokensTest, FollowOpenAisWorkedExamples) {
  // The examples of https://platform.openai.com/docs/guides/images-vision.
  const ImageTokenRule gpt_4o = ImageTokenRule::Tiles(85, 170);
  EXPECT_EQ(ImageTokens(gpt_4o, 1024, 1024), 765);   // 768x768: 4 tiles
  EXPECT_EQ(ImageTokens(gpt_4o, 2048, 4096), 1105);  // 768x1536: 6 tiles
  EXPECT_EQ(ImageTokens(gpt_4o, 300, 200), 255);     // never enlarged: 1 tile
  const ImageTokenRule patches = ImageTokenRule::Patches(100);
  EXPECT_EQ(ImageTokens(patches, 1024, 1024), 1024);  // 32x32 patches
  EXPECT_EQ(ImageTokens(patches, 1800, 2400), 1452);  // shrunk to 33x44 patches
  // gpt-4.1-mini: 1024 patches x 1.62 = 1658.88, rounded up.
  EXPECT_EQ(ImageTokens(LookupModel("gpt-4.1-mini").image_tokens, 1024, 1024), 1659);
}

TEST(ImageTokensTest, PagesAreRenderedAt150Dpi) {
  // US Letter, 612x792 pt = 1275x1650 px. Tiles: short side to 768 -> 768x994,
  // 2x2 tiles. Patches: 40x52 > 1536, shrunk to 34x44 = 1496 patches.
  EXPECT_EQ(PageImageTokens(LookupModel("gpt-4o").image_tokens, 612, 792), 85 + 4 * 170);
  EXPECT_EQ(PageImageTokens(LookupModel("gpt-4.1").image_tokens, 612, 792), 765);
  EXPECT_EQ(PageImageTokens(LookupModel("gpt-4o-mini").image_tokens, 612, 792), 2833 + 4 * 5667);
  EXPECT_EQ(PageImageTokens(LookupModel("gpt-5").image_tokens, 612, 792), 70 + 4 * 140);
  EXPECT_EQ(PageImageTokens(LookupModel("gpt-4.1-mini").image_tokens, 612, 792), 2424);  // 1.62
  EXPECT_EQ(PageImageTokens(LookupModel("gpt-4.1-nano").image_tokens, 612, 792), 3681);  // 2.46
  EXPECT_EQ(PageImageTokens(LookupModel("o4-mini").image_tokens, 612, 792), 2574);       // 1.72
  // A page without a size counts as US Letter.
  EXPECT_EQ(PageImageTokens(LookupModel("gpt-4.1-mini").image_tokens, 0, 0), 2424);
}

// Prompt tokens of a transcript request for `pdf` with `model`.
int64_t PromptTokens(ChatCompleter& completer, const std::string& pdf, const std::string& model) {
  Completion c = completer.Complete(TranscriptRequest(pdf, model));
  EXPECT_EQ(c.status_code, 200) << Dump(c.body);
  EXPECT_EQ(c.body["usage"]["prompt_tokens"], c.prompt_tokens);
  return c.prompt_tokens;
}

TEST_F(CompleterTest, EveryPageCostsItsImageAndItsText) {
  const std::string text = "Forty bytes of text on every single page";  // 10 tokens
  ASSERT_EQ(text.size(), 40u);
  for (const auto& [model, image] : std::vector<std::pair<std::string, int64_t>>{
           {"gpt-4.1-mini", 2424}, {"gpt-4o", 765}, {"gpt-4o-mini", 25'501}}) {
    const int64_t one = PromptTokens(completer_, MakePdf({text}), model);
    const int64_t three = PromptTokens(completer_, MakePdf({text, text, text}), model);
    EXPECT_EQ(three - one, 2 * (image + 10)) << model;
  }
}

TEST_F(CompleterTest, AKnownPageSizeGivesExactImageTokens) {
  // 288x288 pt at 150 DPI is 600x600 px. gpt-4.1-mini: 19x19 = 361 patches x
  // 1.62 = 584.82 -> 585. gpt-4o: no resize, 2x2 tiles -> 85 + 4 x 170 = 765.
  // Empty pages have no text tokens: one more page adds exactly its image.
  for (const auto& [model, image] : std::vector<std::pair<std::string, int64_t>>{
           {"gpt-4.1-mini", 585}, {"gpt-4o", 765}, {"o4-mini", 621}}) {
    const int64_t one = PromptTokens(completer_, MakePdf({""}, 288, 288), model);
    const int64_t two = PromptTokens(completer_, MakePdf({"", ""}, 288, 288), model);
    EXPECT_EQ(two - one, image) << model;
  }
}

TEST_F(CompleterTest, PdfPagesPerRequestAreLimited) {
  Completion ok = completer_.Complete(TranscriptRequest(MakePdf(std::vector<std::string>(100))));
  ASSERT_EQ(ok.status_code, 200) << Dump(ok.body);
  EXPECT_FALSE(ok.over_limit);
  EXPECT_EQ(ParseJson(Content(ok))["pages"].size(), 100u);

  Completion c = completer_.Complete(TranscriptRequest(MakePdf(std::vector<std::string>(150))));
  EXPECT_EQ(c.status_code, 400);
  EXPECT_TRUE(c.over_limit);
  EXPECT_EQ(c.prompt_tokens, 0);
  EXPECT_EQ(c.body["error"]["message"],
            "Invalid 'messages[1].content[1].file': the PDF has 150 pages; at most 100 pages are "
            "allowed per request.");
  EXPECT_EQ(c.body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(c.body["error"]["param"], "messages[1].content[1].file");
  EXPECT_EQ(c.body["error"]["code"], "invalid_value");

  // The limit is per request, over all file parts.
  Json two_parts = TranscriptRequest(MakePdf(std::vector<std::string>(60)));
  Json second =
      TranscriptRequest(MakePdf(std::vector<std::string>(41)))["messages"][1]["content"][1];
  two_parts["messages"][1]["content"].push_back(second);
  Completion both = completer_.Complete(two_parts);
  EXPECT_EQ(both.status_code, 400);
  EXPECT_EQ(both.body["error"]["param"], "messages[1].content[2].file");
  EXPECT_NE(both.body["error"]["message"].get<std::string>().find(
                "the request's PDFs have 101 pages in total; at most 100 pages"),
            std::string::npos)
      << Dump(both.body);
}

TEST_F(CompleterTest, FileBytesPerRequestAreLimited) {
  const std::string pdf = MakePdf({"A page"});
  ChatCompleter strict(&pdfs_, &ids_, &clock_, nullptr,
                       PdfRequestLimits{100, static_cast<int64_t>(pdf.size())});
  EXPECT_EQ(strict.Complete(TranscriptRequest(pdf)).status_code, 200);
  ChatCompleter stricter(&pdfs_, &ids_, &clock_, nullptr,
                         PdfRequestLimits{100, static_cast<int64_t>(pdf.size()) - 1});
  Completion c = stricter.Complete(TranscriptRequest(pdf));
  EXPECT_EQ(c.status_code, 400);
  EXPECT_TRUE(c.over_limit);
  EXPECT_EQ(c.body["error"]["param"], "messages[1].content[1].file");
  EXPECT_EQ(c.body["error"]["code"], "invalid_value");
  EXPECT_NE(c.body["error"]["message"].get<std::string>().find(
                "bytes; at most " + FormatWithCommas(static_cast<int64_t>(pdf.size()) - 1) +
                " bytes of file content are allowed per request."),
            std::string::npos)
      << Dump(c.body);
  EXPECT_EQ(stricter.CountPromptTokens(TranscriptRequest(pdf)), 0);
}

TEST_F(CompleterTest, PageImagesCountAgainstTheContextWindow) {
  // gpt-4o-mini: 25,501 tokens per Letter page, 128,000 of context.
  Completion fits =
      completer_.Complete(TranscriptRequest(MakePdf(std::vector<std::string>(4)), "gpt-4o-mini"));
  EXPECT_EQ(fits.status_code, 200) << Dump(fits.body);
  Completion c =
      completer_.Complete(TranscriptRequest(MakePdf(std::vector<std::string>(6)), "gpt-4o-mini"));
  EXPECT_EQ(c.status_code, 400);
  EXPECT_EQ(c.body["error"]["code"], "context_length_exceeded");
  EXPECT_TRUE(c.over_limit);
}

TEST_F(CompleterTest, APartIsAnsweredAsTheDocumentTheModelReceived) {
  // A part of pages 41..43 of a long document arrives as a 3-page PDF: the
  // model numbers its pages 1..3 and writes each page's text.
  std::vector<std::string> texts;
  for (int page = 41; page <= 43; ++page) {
    std::string text = "Page " + std::to_string(page);
    for (int line = 1; line <= 10; ++line) {
      text += "\nLine " + std::to_string(line) + " of the page, with a few more words.";
    }
    texts.push_back(text);
  }
  Json request = TranscriptRequest(MakePdf(texts));
  Completion c = completer_.Complete(request);
  ASSERT_EQ(c.status_code, 200);
  EXPECT_EQ(c.body["choices"][0]["finish_reason"], "stop");
  const Json answer = ParseJson(Content(c));
  ASSERT_EQ(answer["pages"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(answer["pages"][i]["page"], static_cast<int64_t>(i + 1));
    EXPECT_EQ(answer["pages"][i]["text"], texts[i]);
  }
  EXPECT_EQ(Content(completer_.Complete(request)), Content(c));
  // More answer than max_completion_tokens: cut, finish_reason length.
  request["max_completion_tokens"] = 200;
  Completion cut = completer_.Complete(request);
  EXPECT_EQ(cut.body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(cut.completion_tokens, 200);
}

}  // namespace
}  // namespace batchscribe::emulator

// Fuzz target: the JSONL request lines of a shard's input.jsonl, from both
// ends. The first input byte picks the case:
//   even  the writer (libs/jsonl RequestLineBuilder): fuzzed model, prompt,
//         schema, token cap, custom_id, file name and PDF bytes; the line must
//         be one line of valid JSON saying exactly what was asked, its size
//         must be what LineBytes predicted (shard planning relies on it), the
//         streamed line must equal the built one, and the emulator's reader
//         must accept it;
//   odd   the reader (the emulator's parser and chat-completion validator,
//         the stand-in for OpenAI's): an arbitrary line must be answered with
//         a status and an error object, never a crash.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz/fuzz_input.h"
#include "libs/jsonl/request_line.h"
#include "services/openai-emulator/chat_completer.h"

namespace {

namespace emu = batchscribe::emulator;
namespace jsonl = batchscribe::jsonl;
using batchscribe::fuzz::FuzzInput;

emu::ChatCompleter& Completer() {
  static emu::PdfTextReader* pdfs = new emu::PdfTextReader(1 << 20);
  static emu::IdGenerator* ids = new emu::IdGenerator();
  static emu::SystemClock* clock = new emu::SystemClock();
  static emu::ChatCompleter* completer = new emu::ChatCompleter(
      pdfs, ids, clock, [](const std::string&) { return std::optional<std::string>(); });
  return *completer;
}

bool IsValidUtf8(const std::string& s) {
  nlohmann::json j = s;
  try {
    (void)j.dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

void CheckCompletion(const emu::Completion& c, const std::string& line) {
  FUZZ_CHECK(c.status_code == 200 || (c.status_code >= 400 && c.status_code <= 599),
             "status " + std::to_string(c.status_code) + " for " + line.substr(0, 300));
  FUZZ_CHECK(c.body.is_object(), "a non-object body for " + line.substr(0, 300));
  if (c.status_code != 200) {
    FUZZ_CHECK(c.body.contains("error"), "an error status without an error object");
  }
  FUZZ_CHECK(c.prompt_tokens >= 0 && c.completion_tokens >= 0, "negative usage");
}

void ReadLine(const std::string& line) {
  emu::Json request = emu::ParseJson(line);
  if (request.is_discarded() || !request.is_object() || !request.contains("body")) return;
  const emu::Json& body = request["body"];
  FUZZ_CHECK(Completer().CountPromptTokens(body) >= 0, "negative prompt tokens");
  CheckCompletion(Completer().Complete(body), line);
}

const char kSchema[] =
    R"({"type":"object","properties":{"pages":{"type":"array","items":{"type":"object",)"
    R"("properties":{"page":{"type":"integer"},"text":{"type":"string"}},)"
    R"("required":["page","text"],"additionalProperties":false}}},)"
    R"("required":["pages"],"additionalProperties":false})";

void WriteLine(FuzzInput& in) {
  jsonl::RequestTemplate request;
  request.model = in.Bool() ? "gpt-4.1-mini" : in.String(40);
  request.prompt = in.String(400);
  request.json_schema = in.Bool() ? kSchema : in.String(400);
  if (in.Bool()) request.schema_name = in.String(70);
  request.max_completion_tokens = static_cast<int>(in.Int(-2, 200000));
  const std::string custom_id = in.String(80);
  const std::string filename = in.String(80);
  const std::string pdf = in.Rest();
  const bool utf8 = IsValidUtf8(request.model) && IsValidUtf8(request.prompt) &&
                    IsValidUtf8(custom_id) && IsValidUtf8(filename);

  auto builder = jsonl::RequestLineBuilder::Create(request);
  if (!builder.ok()) {
    FUZZ_CHECK(builder.status().code() == absl::StatusCode::kInvalidArgument,
               builder.status().ToString());
    return;
  }
  std::string line;
  try {
    line = builder->BuildLine(custom_id, filename, pdf);
  } catch (const std::exception& e) {
    FUZZ_CHECK(!utf8, std::string("BuildLine threw on valid UTF-8: ") + e.what());
    return;
  }
  FUZZ_CHECK(line.size() == builder->LineBytes(custom_id, filename, pdf.size()),
             "LineBytes predicted " +
                 std::to_string(builder->LineBytes(custom_id, filename, pdf.size())) +
                 ", the line has " + std::to_string(line.size()));
  FUZZ_CHECK(!line.empty() && line.back() == '\n' && line.find('\n') == line.size() - 1,
             "not exactly one line");

  // Streamed in uneven chunks, the line is the same.
  std::string streamed;
  size_t offset = 0;
  size_t chunk = 1;
  absl::Status written = builder->WriteLine(
      custom_id, filename, pdf.size(),
      [&](char* buffer, size_t n) -> absl::StatusOr<size_t> {
        size_t take = std::min({n, chunk, pdf.size() - offset});
        std::copy_n(pdf.data() + offset, take, buffer);
        offset += take;
        chunk = chunk * 3 + 1;
        return take;
      },
      [&](std::string_view bytes) {
        streamed.append(bytes);
        return absl::OkStatus();
      });
  FUZZ_CHECK(written.ok(), "WriteLine failed: " + written.ToString());
  FUZZ_CHECK(streamed == line, "the streamed line differs from the built one");
  // A PDF that is shorter than announced is DATA_LOSS, not a short line.
  offset = 0;
  absl::Status short_read = builder->WriteLine(
      custom_id, filename, pdf.size() + 1,
      [&](char* buffer, size_t n) -> absl::StatusOr<size_t> {
        size_t take = std::min(n, pdf.size() - offset);
        std::copy_n(pdf.data() + offset, take, buffer);
        offset += take;
        return take;
      },
      [](std::string_view) { return absl::OkStatus(); });
  FUZZ_CHECK(short_read.code() == absl::StatusCode::kDataLoss,
             "a short PDF gave " + short_read.ToString());

  auto parsed = nlohmann::json::parse(line, nullptr, false);
  FUZZ_CHECK(!parsed.is_discarded() && parsed.is_object(), "the line is not a JSON object");
  FUZZ_CHECK(parsed.value("custom_id", std::string("\x01")) == custom_id || !utf8,
             "custom_id changed");
  FUZZ_CHECK(parsed.value("method", "") == "POST", "method");
  FUZZ_CHECK(parsed.value("url", "") == jsonl::kChatCompletionsEndpoint, "url");
  const auto& body = parsed["body"];
  FUZZ_CHECK(body.is_object(), "the body is not an object");
  FUZZ_CHECK(body.value("model", std::string("\x01")) == request.model || !utf8, "model changed");
  FUZZ_CHECK(body.value("max_completion_tokens", -1) == request.max_completion_tokens,
             "max_completion_tokens changed");
  auto schema = nlohmann::json::parse(request.json_schema, nullptr, false);
  FUZZ_CHECK(body["response_format"]["json_schema"]["schema"] == schema,
             "the schema changed on the way");
  const auto& file = body["messages"][0]["content"][1]["file"];
  std::string expected_data = "data:application/pdf;base64,";
  jsonl::Base64Append(pdf, expected_data);
  FUZZ_CHECK(file.value("file_data", "") == expected_data, "file_data is not the PDF's base64");
  FUZZ_CHECK(file.value("filename", std::string("\x01")) == filename || !utf8, "filename changed");

  ReadLine(line.substr(0, line.size() - 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  if (in.Byte() % 2 == 0) {
    WriteLine(in);
  } else {
    ReadLine(in.Rest());
  }
  return 0;
}

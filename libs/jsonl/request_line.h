#pragma once
// The one place that builds request lines (and SYNC request bodies). A line is
//   {"custom_id":ID,"method":"POST","url":"/v1/chat/completions","body":{
//     "model":M,"max_completion_tokens":N,
//     "response_format":{"type":"json_schema","json_schema":{"name":"transcript",
//                        "strict":true,"schema":S}},
//     "messages":[{"role":"user","content":[{"type":"text","text":PROMPT},
//       {"type":"file","file":{"filename":F,"file_data":"data:application/pdf;base64,B64"}}]}]}}\n
// Everything before the base64 payload and after it is fixed for a document,
// so the exact size of a line is known from the PDF's size alone (planning)
// and the PDF can be streamed through the encoder in constant memory
// (preparing). response_format precedes messages so that the payload is the
// last variable part.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace batchscribe::jsonl {

/// The endpoint every line targets.
inline constexpr std::string_view kChatCompletionsEndpoint = "/v1/chat/completions";

/// What every request of a batch shares.
struct RequestTemplate {
  std::string model;
  std::string prompt;
  /// JSON Schema text, sent as a strict json_schema response_format.
  std::string json_schema;
  /// response_format.json_schema.name ([A-Za-z0-9_-]{1,64}).
  std::string schema_name = "transcript";
  int max_completion_tokens = 16000;
};

/// Bytes of the base64 encoding of `n` bytes (with padding).
constexpr uint64_t Base64Size(uint64_t n) { return (n + 2) / 3 * 4; }

/// Appends the base64 encoding of `in` to `out`.
void Base64Append(std::string_view in, std::string& out);

class RequestLineBuilder {
 public:
  /// INVALID_ARGUMENT when the schema is not a JSON object, the schema name is
  /// malformed, or the model, prompt or token cap is empty.
  static absl::StatusOr<RequestLineBuilder> Create(const RequestTemplate& request);

  /// Exact size of the line for a PDF of `pdf_bytes` bytes, with its '\n'.
  uint64_t LineBytes(std::string_view custom_id, std::string_view filename,
                     uint64_t pdf_bytes) const;

  /// Streams one line to `write`: the fixed prefix, the base64 of exactly
  /// `pdf_bytes` bytes pulled from `read` (which returns 0 at the end), the
  /// suffix and '\n'. Memory use is bounded by a small buffer whatever the
  /// PDF's size. DATA_LOSS when `read` yields more or fewer bytes than
  /// `pdf_bytes`; errors of `read` and `write` are returned as they are.
  absl::Status WriteLine(std::string_view custom_id, std::string_view filename, uint64_t pdf_bytes,
                         const std::function<absl::StatusOr<size_t>(char*, size_t)>& read,
                         const std::function<absl::Status(std::string_view)>& write) const;

  /// Like WriteLine, for a PDF that is pushed rather than pulled (a part of a
  /// document written by the PDF splitter): `produce` is called once with a
  /// sink and pushes exactly `pdf_bytes` bytes into it, in pieces of any size.
  /// Memory stays bounded by one chunk. DATA_LOSS when it pushes another
  /// number of bytes; errors of `produce` and `write` are returned as they are.
  absl::Status WritePushedLine(
      std::string_view custom_id, std::string_view filename, uint64_t pdf_bytes,
      const std::function<absl::Status(const std::function<absl::Status(std::string_view)>&)>&
          produce,
      const std::function<absl::Status(std::string_view)>& write) const;

  /// The whole line for a PDF held in memory (tests, small files).
  std::string BuildLine(std::string_view custom_id, std::string_view filename,
                        std::string_view pdf) const;

  /// The synchronous `/v1/chat/completions` body (SYNC mode): the same body
  /// as in a line.
  std::string BuildChatBody(std::string_view filename, std::string_view pdf) const;

  const RequestTemplate& request() const { return request_; }

 private:
  RequestLineBuilder() = default;
  std::string LinePrefix(std::string_view custom_id, std::string_view filename) const;
  std::string BodyPrefix(std::string_view filename) const;

  RequestTemplate request_;
  std::string
      body_head_;  // {"model":...,"messages":[...,"text":P},{"type":"file","file":{"filename":
  std::string
      body_tail_;  // "}}]}]}   (closes file_data, file, part, content, message, messages, body)
};

}  // namespace batchscribe::jsonl

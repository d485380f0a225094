#include "libs/jsonl/request_line.h"

#include <cstring>
#include <nlohmann/json.hpp>
#include <regex>

namespace batchscribe::jsonl {
namespace {

constexpr std::string_view kDataUrlPrefix = "data:application/pdf;base64,";
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
// Input chunk for streaming: a multiple of 3 so that only the last chunk pads;
// 192 KiB in, 256 KiB out: few syscalls, still constant memory.
constexpr size_t kChunk = 3 * 64 * 1024;

// A JSON string literal; invalid UTF-8 is replaced rather than rejected, so a
// line is always valid JSON.
std::string Quote(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void Base64Append(std::string_view in, std::string& out) {
  // Every 12-bit value as its two characters: one lookup per two output
  // characters, into an output sized once (~4.5x the one-character loop).
  struct PairTable {
    char pairs[4096][2];
    constexpr PairTable() : pairs() {
      for (int v = 0; v < 4096; ++v) {
        pairs[v][0] = kAlphabet[v >> 6];
        pairs[v][1] = kAlphabet[v & 63];
      }
    }
  };
  static constexpr PairTable kTable;
  const size_t old = out.size();
  out.resize(old + Base64Size(in.size()));
  char* dst = out.data() + old;
  const auto* src = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint32_t{src[i]} << 16) | (uint32_t{src[i + 1]} << 8) | src[i + 2];
    std::memcpy(dst, kTable.pairs[v >> 12], 2);
    std::memcpy(dst + 2, kTable.pairs[v & 4095], 2);
    dst += 4;
  }
  const size_t rest = in.size() - i;
  if (rest > 0) {
    const uint32_t v = (uint32_t{src[i]} << 16) | (rest == 2 ? uint32_t{src[i + 1]} << 8 : 0);
    dst[0] = kAlphabet[(v >> 18) & 63];
    dst[1] = kAlphabet[(v >> 12) & 63];
    dst[2] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    dst[3] = '=';
  }
}

absl::StatusOr<RequestLineBuilder> RequestLineBuilder::Create(const RequestTemplate& request) {
  if (request.model.empty()) return absl::InvalidArgumentError("model is empty");
  if (request.prompt.empty()) return absl::InvalidArgumentError("prompt is empty");
  if (request.max_completion_tokens <= 0) {
    return absl::InvalidArgumentError("max_completion_tokens must be positive");
  }
  static const std::regex kName("[A-Za-z0-9_-]{1,64}");
  if (!std::regex_match(request.schema_name, kName)) {
    return absl::InvalidArgumentError("schema name must be 1-64 characters of [A-Za-z0-9_-]");
  }
  // ordered_json keeps the author's property order, which the model follows.
  auto schema = nlohmann::ordered_json::parse(request.json_schema, nullptr, false);
  if (schema.is_discarded() || !schema.is_object()) {
    return absl::InvalidArgumentError("json_schema is not a JSON object");
  }
  RequestLineBuilder builder;
  builder.request_ = request;
  std::string schema_text = schema.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  builder.body_head_ = "{\"model\":" + Quote(request.model) + ",\"max_completion_tokens\":" +
                       std::to_string(request.max_completion_tokens) +
                       ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":" +
                       Quote(request.schema_name) + ",\"strict\":true,\"schema\":" + schema_text +
                       "}},\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                       "\"text\":" +
                       Quote(request.prompt) + "},{\"type\":\"file\",\"file\":{\"filename\":";
  builder.body_tail_ = "\"}}]}]}";
  return builder;
}

std::string RequestLineBuilder::BodyPrefix(std::string_view filename) const {
  return body_head_ + Quote(filename) + ",\"file_data\":\"" + std::string(kDataUrlPrefix);
}

std::string RequestLineBuilder::LinePrefix(std::string_view custom_id,
                                           std::string_view filename) const {
  return "{\"custom_id\":" + Quote(custom_id) +
         ",\"method\":\"POST\",\"url\":" + Quote(kChatCompletionsEndpoint) +
         ",\"body\":" + BodyPrefix(filename);
}

uint64_t RequestLineBuilder::LineBytes(std::string_view custom_id, std::string_view filename,
                                       uint64_t pdf_bytes) const {
  // prefix + payload + body tail + "}" (closes the line object) + "\n"
  return LinePrefix(custom_id, filename).size() + Base64Size(pdf_bytes) + body_tail_.size() + 2;
}

absl::Status RequestLineBuilder::WriteLine(
    std::string_view custom_id, std::string_view filename, uint64_t pdf_bytes,
    const std::function<absl::StatusOr<size_t>(char*, size_t)>& read,
    const std::function<absl::Status(std::string_view)>& write) const {
  if (auto status = write(LinePrefix(custom_id, filename)); !status.ok()) return status;
  std::string in(kChunk, '\0');
  std::string out;
  out.reserve(Base64Size(kChunk));
  uint64_t total = 0;
  size_t filled = 0;
  bool eof = false;
  while (!eof) {
    // Fill the chunk completely (short reads happen) so that padding only
    // ever appears at the very end.
    while (filled < kChunk) {
      auto n = read(in.data() + filled, kChunk - filled);
      if (!n.ok()) return n.status();
      if (*n == 0) {
        eof = true;
        break;
      }
      filled += *n;
    }
    total += filled;
    if (total > pdf_bytes) {
      return absl::DataLossError("file grew while it was read: more than " +
                                 std::to_string(pdf_bytes) + " bytes");
    }
    out.clear();
    Base64Append(std::string_view(in.data(), filled), out);
    filled = 0;
    if (!out.empty()) {
      if (auto status = write(out); !status.ok()) return status;
    }
  }
  if (total != pdf_bytes) {
    return absl::DataLossError("file changed while it was read: " + std::to_string(total) +
                               " bytes instead of " + std::to_string(pdf_bytes));
  }
  return write(body_tail_ + "}\n");
}

absl::Status RequestLineBuilder::WritePushedLine(
    std::string_view custom_id, std::string_view filename, uint64_t pdf_bytes,
    const std::function<absl::Status(const std::function<absl::Status(std::string_view)>&)>&
        produce,
    const std::function<absl::Status(std::string_view)>& write) const {
  if (auto status = write(LinePrefix(custom_id, filename)); !status.ok()) return status;
  // kChunk is a multiple of 3, so only the last flush can carry padding.
  std::string in;
  in.reserve(kChunk);
  std::string out;
  out.reserve(Base64Size(kChunk));
  uint64_t total = 0;
  auto flush = [&]() -> absl::Status {
    out.clear();
    Base64Append(in, out);
    in.clear();
    return out.empty() ? absl::OkStatus() : write(out);
  };
  absl::Status produced = produce([&](std::string_view bytes) -> absl::Status {
    total += bytes.size();
    while (!bytes.empty()) {
      const size_t take = std::min(bytes.size(), kChunk - in.size());
      in.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (in.size() == kChunk) {
        if (auto status = flush(); !status.ok()) return status;
      }
    }
    return absl::OkStatus();
  });
  if (!produced.ok()) return produced;
  if (auto status = flush(); !status.ok()) return status;
  if (total != pdf_bytes) {
    return absl::DataLossError("the part's PDF has " + std::to_string(total) +
                               " bytes instead of the " + std::to_string(pdf_bytes) +
                               " planned: the file changed since planning");
  }
  return write(body_tail_ + "}\n");
}

std::string RequestLineBuilder::BuildLine(std::string_view custom_id, std::string_view filename,
                                          std::string_view pdf) const {
  std::string line = LinePrefix(custom_id, filename);
  Base64Append(pdf, line);
  line += body_tail_;
  line += "}\n";
  return line;
}

std::string RequestLineBuilder::BuildChatBody(std::string_view filename,
                                              std::string_view pdf) const {
  std::string body = BodyPrefix(filename);
  Base64Append(pdf, body);
  body += body_tail_;
  return body;
}

}  // namespace batchscribe::jsonl

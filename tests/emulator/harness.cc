#include "tests/emulator/harness.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace batchscribe::emulator::testing {
namespace fs = std::filesystem;
using batchscribe::testing::BinDir;
using batchscribe::testing::FreePort;
using batchscribe::testing::SourceDir;

std::string MakePdf(const std::vector<std::string>& pages, double width_pt, double height_pt) {
  std::ostringstream media_box;
  media_box << "[0 0 " << width_pt << " " << height_pt << "]";
  std::vector<std::string> objects;
  const size_t n = pages.size();
  std::string kids;
  for (size_t i = 0; i < n; ++i) kids += std::to_string(3 + 2 * i) + " 0 R ";
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(n) + " >>");
  const size_t font = 3 + 2 * n;
  for (size_t i = 0; i < n; ++i) {
    std::string content = "BT /F1 12 Tf 72 720 Td 14 TL";
    std::stringstream lines(pages[i]);
    std::string line;
    bool first = true;
    while (std::getline(lines, line)) {
      std::string escaped;
      for (char c : line) {
        if (c == '(' || c == ')' || c == '\\') escaped += '\\';
        escaped += c;
      }
      content += (first ? " (" : " T* (") + escaped + ") Tj";
      first = false;
    }
    content += " ET";
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox " + media_box.str() + " /Contents " +
                      std::to_string(4 + 2 * i) + " 0 R /Resources << /Font << /F1 " +
                      std::to_string(font) + " 0 R >> >> >>");
    objects.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content +
                      "\nendstream");
  }
  objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  std::string out = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const size_t xref = out.size();
  out += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char line[32];
    std::snprintf(line, sizeof(line), "%010zu 00000 n \n", off);
    out += line;
  }
  out += "trailer\n<< /Size " + std::to_string(objects.size() + 1) +
         " /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return out;
}

Json TranscriptSchema() {
  std::ifstream in(SourceDir() / "config" / "transcript.schema.json");
  std::stringstream text;
  text << in.rdbuf();
  return ParseJson(text.str());
}

Json TranscriptRequest(const std::string& pdf, const std::string& model) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  size_t i = 0;
  for (; i + 2 < pdf.size(); i += 3) {
    uint32_t v = (uint8_t(pdf[i]) << 16) | (uint8_t(pdf[i + 1]) << 8) | uint8_t(pdf[i + 2]);
    for (int s = 18; s >= 0; s -= 6) b64 += kAlphabet[(v >> s) & 63];
  }
  if (i < pdf.size()) {
    uint32_t v = uint8_t(pdf[i]) << 16;
    if (i + 1 < pdf.size()) v |= uint8_t(pdf[i + 1]) << 8;
    b64 += kAlphabet[(v >> 18) & 63];
    b64 += kAlphabet[(v >> 12) & 63];
    b64 += i + 1 < pdf.size() ? kAlphabet[(v >> 6) & 63] : '=';
    b64 += '=';
  }
  Json body = Json::object();
  body["model"] = model;
  body["max_completion_tokens"] = 4000;
  body["messages"] = Json::array(
      {{{"role", "system"}, {"content", "Transcribe the document."}},
       {{"role", "user"},
        {"content", Json::array({{{"type", "text"}, {"text", "Transcribe this PDF."}},
                                 {{"type", "file"},
                                  {"file",
                                   {{"filename", "doc.pdf"},
                                    {"file_data", "data:application/pdf;base64," + b64}}}}})}}});
  body["response_format"] = {
      {"type", "json_schema"},
      {"json_schema", {{"name", "transcript"}, {"strict", true}, {"schema", TranscriptSchema()}}}};
  return body;
}

std::string RequestLine(const std::string& custom_id, const Json& body, const std::string& url) {
  Json line = Json::object();
  line["custom_id"] = custom_id;
  line["method"] = "POST";
  line["url"] = url;
  line["body"] = body;
  return Dump(line);
}

std::vector<Json> ParseLines(const std::string& jsonl) {
  std::vector<Json> out;
  std::stringstream in(jsonl);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(ParseJson(line));
  }
  return out;
}

std::string SchemaErrors(const Json& schema, const Json& value) {
  const nlohmann::json plain_schema = nlohmann::json::parse(Dump(schema));
  const nlohmann::json plain_value = nlohmann::json::parse(Dump(value));
  valijson::Schema parsed;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(plain_schema);
  parser.populateSchema(schema_adapter, parsed);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter value_adapter(plain_value);
  if (validator.validate(parsed, value_adapter, &results)) return "";
  std::string errors;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string context;
    for (const auto& c : error.context) context += c;
    errors += context + ": " + error.description + "\n";
  }
  return errors;
}

EmulatorProcess::EmulatorProcess(
    std::initializer_list<std::pair<const std::string, std::string>> flags)
    : flags_({{"--validate_ms", "20"},
              {"--in_progress_ms", "20"},
              {"--finalize_ms", "20"},
              {"--cancel_ms", "20"},
              {"--log_level", "info"}}),
      port_(FreePort()) {
  for (auto& [k, v] : flags) flags_[k] = v;
  Start();
}

EmulatorProcess::~EmulatorProcess() {
  if (process_ && process_->running()) {
    const int status = process_->Stop(10000);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the emulator did not stop cleanly (status " << status << ")\n"
        << Log();
  }
}

void EmulatorProcess::Start() {
  std::vector<std::string> argv = {(BinDir() / "openai-emulator").string(), "--listen",
                                   "127.0.0.1:" + std::to_string(port_)};
  for (const auto& [k, v] : flags_) {
    argv.push_back(k);
    argv.push_back(v);
  }
  // The emulator's private folder goes under our scratch folder, so it is
  // removed even when a test SIGKILLs the emulator.
  process_ = std::make_unique<batchscribe::testing::Subprocess>(
      argv, dir_.path() / ("emulator." + std::to_string(starts_++) + ".log"),
      std::map<std::string, std::string>{{"TMPDIR", dir_.path().string()}});
  httplib::Client probe("127.0.0.1", port_);
  probe.set_connection_timeout(0, 200000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto res = probe.Get("/_emulator/health");
    if (res && res->status == 200) return;
    if (!process_->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "the emulator did not become healthy\n" << Log();
}

std::string EmulatorProcess::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::unique_ptr<httplib::Client> EmulatorProcess::Client() const {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", port_);
  client->set_bearer_token_auth("sk-test");
  client->set_read_timeout(60, 0);
  client->set_write_timeout(60, 0);
  return client;
}

std::string EmulatorProcess::Log() const {
  std::string all;
  for (int i = 0; i < starts_; ++i) {
    std::ifstream in(dir_.path() / ("emulator." + std::to_string(i) + ".log"));
    std::stringstream text;
    text << in.rdbuf();
    all += text.str();
  }
  return all;
}

pid_t EmulatorProcess::pid() const { return process_->pid(); }

void EmulatorProcess::Kill() { process_->Kill(); }

void EmulatorProcess::Restart() {
  if (process_->running()) process_->Stop(10000);
  Start();
}

std::string UploadJsonl(httplib::Client& client, const std::string& content,
                        const std::string& filename) {
  httplib::MultipartFormDataItems items = {
      {"purpose", "batch", "", ""},
      {"file", content, filename, "application/jsonl"},
  };
  auto res = client.Post("/v1/files", items);
  if (!res || res->status != 200) {
    ADD_FAILURE() << "upload failed: " << (res ? res->body : httplib::to_string(res.error()));
    return "";
  }
  return ParseJson(res->body).value("id", std::string());
}

Json CreateBatch(httplib::Client& client, const std::string& file_id, const Json& metadata) {
  Json body = {{"input_file_id", file_id},
               {"endpoint", "/v1/chat/completions"},
               {"completion_window", "24h"}};
  if (!metadata.is_null()) body["metadata"] = metadata;
  int status = 0;
  Json batch = PostJson(client, "/v1/batches", body, &status);
  if (status != 200) {
    ADD_FAILURE() << "creating a batch failed: " << status << " " << Dump(batch);
    return nullptr;
  }
  return batch;
}

Json WaitForBatch(httplib::Client& client, const std::string& batch_id,
                  const std::set<std::string>& statuses, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Json batch;
  while (std::chrono::steady_clock::now() < deadline) {
    batch = GetJson(client, "/v1/batches/" + batch_id);
    if (batch.is_object() && statuses.count(batch.value("status", std::string()))) return batch;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "batch " << batch_id << " did not reach the expected status: " << Dump(batch);
  return batch;
}

std::string FileContent(httplib::Client& client, const std::string& file_id) {
  auto res = client.Get("/v1/files/" + file_id + "/content");
  if (!res || res->status != 200) {
    ADD_FAILURE() << "downloading " << file_id << " failed";
    return "";
  }
  return res->body;
}

Json GetJson(httplib::Client& client, const std::string& path, int* status) {
  auto res = client.Get(path);
  if (status != nullptr) *status = res ? res->status : 0;
  if (!res) return nullptr;
  return ParseJson(res->body);
}

Json PostJson(httplib::Client& client, const std::string& path, const Json& body, int* status) {
  auto res = client.Post(path, Dump(body), "application/json");
  if (status != nullptr) *status = res ? res->status : 0;
  if (!res) return nullptr;
  return ParseJson(res->body);
}

}  // namespace batchscribe::emulator::testing

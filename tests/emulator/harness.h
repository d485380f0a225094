#pragma once
// Shared helpers of the emulator tests: PDFs with a text layer, request lines,
// JSON Schema validation (valijson), a fake clock, and the openai-emulator
// binary running as a real process on a free port.

#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "services/openai-emulator/clock.h"
#include "services/openai-emulator/json.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace batchscribe::emulator::testing {

/// A valid PDF whose page i shows pages[i] as its text layer, every page
/// `width_pt` x `height_pt` points (US Letter by default).
std::string MakePdf(const std::vector<std::string>& pages, double width_pt = 612,
                    double height_pt = 792);

/// config/transcript.schema.json.
Json TranscriptSchema();

/// A Chat Completions body for `pdf`, answering in the transcript schema.
Json TranscriptRequest(const std::string& pdf, const std::string& model = "gpt-4.1-mini");

/// One batch input line.
std::string RequestLine(const std::string& custom_id, const Json& body,
                        const std::string& url = "/v1/chat/completions");

/// Lines of a JSONL text, each parsed (discarded values for unparseable lines).
std::vector<Json> ParseLines(const std::string& jsonl);

/// Empty when `value` validates against `schema`, else the validation errors.
std::string SchemaErrors(const Json& schema, const Json& value);

/// A clock tests move by hand.
class FakeClock : public Clock {
 public:
  int64_t NowMs() const override { return now_ms_; }
  void Advance(int64_t ms) { now_ms_ += ms; }

 private:
  std::atomic<int64_t> now_ms_{1'790'000'000'000};
};

/// build/bin/openai-emulator on a free port, stopped in the destructor.
class EmulatorProcess {
 public:
  /// `flags` override the fast test defaults (validate/in_progress/finalize/
  /// cancel 20 ms) and add others, e.g. {"--api_key", "k"}.
  explicit EmulatorProcess(
      std::initializer_list<std::pair<const std::string, std::string>> flags = {});
  ~EmulatorProcess();

  int port() const { return port_; }
  /// http://127.0.0.1:PORT
  std::string base_url() const;
  /// A client sending `Authorization: Bearer sk-test`.
  std::unique_ptr<httplib::Client> Client() const;
  /// The log so far.
  std::string Log() const;
  pid_t pid() const;
  /// SIGKILL (no chance to save or clean up).
  void Kill();
  /// Starts it again with the same flags and port.
  void Restart();

 private:
  void Start();

  batchscribe::testing::TempDir dir_;
  std::map<std::string, std::string> flags_;
  int port_;
  int starts_ = 0;
  std::unique_ptr<batchscribe::testing::Subprocess> process_;
};

/// Uploads `content` as a batch file; returns the file id ("" on failure).
std::string UploadJsonl(httplib::Client& client, const std::string& content,
                        const std::string& filename = "input.jsonl");
/// POST /v1/batches; returns the batch (null on failure).
Json CreateBatch(httplib::Client& client, const std::string& file_id,
                 const Json& metadata = nullptr);
/// Polls GET /v1/batches/{id} until its status is in `statuses`.
Json WaitForBatch(httplib::Client& client, const std::string& batch_id,
                  const std::set<std::string>& statuses, int timeout_ms = 30000);
/// GET /v1/files/{id}/content.
std::string FileContent(httplib::Client& client, const std::string& file_id);
/// GET and parse a JSON body (null on transport failure).
Json GetJson(httplib::Client& client, const std::string& path, int* status = nullptr);
/// POST a JSON body and parse the answer.
Json PostJson(httplib::Client& client, const std::string& path, const Json& body,
              int* status = nullptr);

}  // namespace batchscribe::emulator::testing

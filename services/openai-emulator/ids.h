#pragma once
// Object identifiers shaped like OpenAI's.

#include <mutex>
#include <random>
#include <string>

namespace batchscribe::emulator {

/// Generates ids: `file-` + 22 alphanumerics, `batch_` + 32 hex, `batch_req_` +
/// 32 hex, `req_` + 32 hex, `chatcmpl-` + 29
/// alphanumerics. Always seeded from
/// the OS so ids never repeat across restarts that share a state folder.
/// Thread-safe.
class IdGenerator {
 public:
  IdGenerator();

  std::string FileId();
  std::string BatchId();
  std::string BatchRequestId();
  std::string RequestId();
  std::string ChatCompletionId();

 private:
  std::string Random(const char* alphabet, int alphabet_size, int length);

  std::mutex mu_;
  std::mt19937_64 rng_;
};

}  // namespace batchscribe::emulator

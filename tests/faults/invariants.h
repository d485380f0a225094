#pragma once
// The promises batchscribe makes, checked after a run from the database, the
// storage root and the emulator's own accounting (/_emulator/stats):
//   - every document ends in exactly one terminal state, its batch's state
//     agrees with its documents, every FAILED document says why, and every
//     SUCCEEDED one has a transcript that validates against the batch's schema
//     (and carries its own PDF's text);
//   - no shard ever had two OpenAI batches that ran (batches that failed
//     validation, e.g. token_limit_exceeded, are resubmitted and never ran);
//   - no custom_id was sent again after it succeeded, and none ran more often
//     than it was put into a shard;
//   - no request line the emulator answered with a deterministic failure
//     (length, 4xx, refusal, content filter) was sent again unchanged, and in
//     a run where no injected fault fired no line was executed twice;
//   - the tokens the emulator billed are the usage the database recorded;
//   - no task is left running or stuck.
// Failures are reported with ADD_FAILURE; what was checked is printed.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace batchscribe::testing {

struct InvariantOptions {
  /// Documents whose first execution the emulator billed but answered with a
  /// garbled line (the `malformed` fault): no client can read usage out of it,
  /// so the emulator billed their (deterministic) usage once more than the
  /// database could record.
  std::set<std::string> billed_unreadable_once;
  /// SUCCEEDED transcripts must contain CorpusMarker(document_id).
  bool check_markers = true;
};

/// Checks every invariant above for all batches of the database. `stats` is
/// GET /_emulator/stats taken after the run. Prints a summary to `out`.
void CheckInvariants(const std::string& database_url, const std::filesystem::path& storage_root,
                     const nlohmann::json& stats, const InvariantOptions& options,
                     std::ostream& out);

/// Documents per state, e.g. {"SUCCEEDED": 290, "FAILED": 10}.
std::map<std::string, int> DocumentStates(const std::string& database_url);

/// The state and error of one document (first match by document_id).
struct DocumentRow {
  std::string batch_id;
  std::string state;
  std::string error;
  int attempts = 0;
};
std::map<std::string, DocumentRow> DocumentRows(const std::string& database_url);

/// Samples the tasks table in the background while faults are injected: a
/// task still `running` `slack` after its lease expired means nobody rescued
/// it. Database outages (a restart) are skipped, not counted.
class StuckTaskWatch {
 public:
  StuckTaskWatch(std::string database_url, std::chrono::milliseconds slack);
  ~StuckTaskWatch();
  StuckTaskWatch(const StuckTaskWatch&) = delete;
  StuckTaskWatch& operator=(const StuckTaskWatch&) = delete;

  /// Stops sampling; returns the violations seen (one line each).
  std::vector<std::string> Finish();
  int samples() const { return samples_.load(); }

 private:
  void Run();

  const std::string database_url_;
  const std::chrono::milliseconds slack_;
  std::atomic<bool> stop_{false};
  std::atomic<int> samples_{0};
  std::mutex mu_;
  std::vector<std::string> violations_;
  std::thread thread_;
};

}  // namespace batchscribe::testing

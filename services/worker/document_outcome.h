#pragma once
// What one execution did to one document, and how outcomes are recorded: the
// document's state (SUCCEEDED, FAILED, back to PENDING while attempts remain,
// CANCELLED when its batch is being cancelled), its error, transcript path,
// accumulated usage and cost, the shard_documents outcome and the batch
// totals, all in the caller's transaction.

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "libs/jsonl/result_line.h"
#include "libs/pricing/price_table.h"

namespace batchscribe::metrics {
class Metrics;
}

namespace batchscribe::worker {

struct DocumentOutcome {
  std::string document_id;
  jsonl::LineOutcome outcome = jsonl::LineOutcome::kRetryable;
  std::string error;
  std::string transcript_path;  // relative to the storage root, on success
  pricing::TokenUsage usage;
  bool billed = false;
  double cost_usd = 0;
  double sync_cost_usd = 0;
  /// Whether this execution spends one of the document's attempts (a request
  /// cancelled before it ran does not).
  bool spend_attempt = true;

  /// From a classified result line; usage priced at `mode` (0 when the model
  /// has no price).
  static DocumentOutcome FromLine(const jsonl::ResultLine& line,
                                  const std::optional<pricing::ModelPrice>& price,
                                  pricing::PricingMode mode);
  /// A document of the shard with no line in either result file; the reason
  /// depends on the OpenAI batch's final status.
  static DocumentOutcome Missing(const std::string& document_id, const std::string& openai_status);
};

/// What one execution did to one part of a document (document_parts).
struct PartOutcome {
  std::string document_id;
  int first_page = 1;
  int last_page = 0;
  /// SUCCEEDED, FAILED, SPLIT (cut at max_completion_tokens: replaced by
  /// first_page..split_at and split_at+1..last_page), or PENDING (retryable:
  /// sent again with the document's next attempt).
  std::string state;
  std::string error;
  std::string answer_path;  // relative to the storage root (SUCCEEDED, several parts)
  int split_at = 0;
  pricing::TokenUsage usage;
  double cost_usd = 0;
  double sync_cost_usd = 0;
};

/// Records part outcomes of documents still in flight in `shard_id`, the
/// halves of SPLIT parts, and the part and page totals of the documents and
/// the batch. Call before RecordOutcomes (which moves the documents on).
void RecordPartOutcomes(pqxx::work& tx, const std::string& batch_id, const std::string& shard_id,
                        const std::vector<PartOutcome>& outcomes);

/// Counts of what RecordOutcomes did.
struct OutcomeTally {
  int succeeded = 0;
  int failed = 0;
  int retried = 0;  // back to PENDING
  int cancelled = 0;
  pricing::TokenUsage usage;
  double cost_usd = 0;
};

/// Records `outcomes` for the in-flight documents of `shard_id` ("" for SYNC
/// documents, which have no shard) and adds usage to the batch. Documents
/// that go back to PENDING get a new `retry_kind` task ("plan" or
/// "transcribe"). Returns what happened (for metrics after the commit).
OutcomeTally RecordOutcomes(pqxx::work& tx, const std::string& batch_id,
                            const std::string& shard_id,
                            const std::vector<DocumentOutcome>& outcomes, bool batch_cancelling,
                            const std::string& retry_kind);

/// Adds a tally to the process metrics (after the commit).
void RecordTallyMetrics(metrics::Metrics& metrics, const std::string& model,
                        const std::string& mode, const OutcomeTally& tally);

}  // namespace batchscribe::worker

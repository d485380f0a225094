#pragma once
// `batchscribe submit --dry-run`: plans the shards and estimates tokens and cost
// of a submission locally, from the PDFs themselves, without sending anything.
//
// Each document is planned by the worker's own planner (libs/pdf/document_planner.h):
// the same page count, parts (page ranges within OpenAI's per-request limits
// and the output budget), split-policy refusals and estimated tokens (text
// layer plus each page's image, per model) that the worker will find. Line
// sizes are exact (the worker's own request-line builder measures them, over
// each part's own PDF as qpdf writes it).

#include <absl/status/statusor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "batchscribe/v1/batch_service.pb.h"
#include "libs/pricing/price_table.h"

namespace batchscribe::cli {

/// OpenAI's cap of requests per batch.
inline constexpr int kMaxShardRequests = 50'000;
/// Our default shard size: under OpenAI's 200 MB input file cap with room to spare.
inline constexpr int64_t kDefaultMaxShardBytes = 190'000'000;

/// Where the local files are and how shards are capped.
struct DryRunOptions {
  /// The folder that stands for the server's input root.
  std::filesystem::path input_root = ".";
  /// When set, documents whose transcript already exists there count as skipped.
  std::filesystem::path storage_root;
  int64_t max_shard_bytes = kDefaultMaxShardBytes;
  int max_shard_requests = kMaxShardRequests;
  /// The workers' per-request part limits (--max_part_pages, --max_part_bytes).
  int max_part_pages = 100;                     // pdf::kDefaultMaxPartPages
  int64_t max_part_bytes = 32LL * 1024 * 1024;  // pdf::kDefaultMaxPartBytes
};

/// One part of a document (a page range sent as its own request line).
struct DryRunPart {
  int first_page = 1;
  int last_page = 1;
  int64_t pdf_bytes = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

/// One document as it would be planned.
struct DryRunDocument {
  std::string path;
  std::string document_id;
  int64_t size_bytes = 0;
  int pages = 0;
  /// Its parts; one for a document that fits one request.
  std::vector<DryRunPart> parts;
  /// Bytes of its request lines (one per part), newlines included.
  int64_t line_bytes = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  /// "planned", "skipped" (transcript exists) or "fails" (see error).
  std::string outcome;
  std::string error;
  /// Shard it would go to, when planned.
  std::string shard_id;
};

/// One shard as it would be built.
struct DryRunShard {
  std::string shard_id;
  int documents = 0;
  /// Request lines: one per part.
  int requests = 0;
  int64_t bytes = 0;
  int64_t input_tokens = 0;
};

/// The whole plan with totals over the planned documents.
struct DryRunPlan {
  std::string model;
  batchscribe::v1::Mode mode = batchscribe::v1::MODE_BATCH;
  int max_completion_tokens = 0;
  std::vector<DryRunDocument> documents;
  std::vector<DryRunShard> shards;
  int64_t planned = 0;
  int64_t skipped = 0;
  int64_t failing = 0;
  int64_t pdf_bytes = 0;
  int64_t pages = 0;
  /// Planned documents that will be sent in more than one part, and the
  /// request lines (parts) of all planned documents.
  int64_t split_documents = 0;
  int64_t parts = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  /// Estimated cost through the Batch API and through synchronous calls.
  double batch_cost_usd = 0;
  double sync_cost_usd = 0;
  /// What the chosen mode would cost.
  double cost_usd = 0;
};

/// Plans `request` (explicit documents or a directory source) against the local
/// files. INVALID_ARGUMENT for what the server would reject as a whole (unknown
/// model, duplicate document ids, bad paths, no documents).
absl::StatusOr<DryRunPlan> PlanDryRun(const batchscribe::v1::SubmitDocumentsRequest& request,
                                      const DryRunOptions& options,
                                      const pricing::PriceTable& prices);

/// The plan as a JSON object (for --output json).
std::string DryRunPlanToJson(const DryRunPlan& plan);

/// The default transcription prompt and schema shipped in config/.
const std::string& DefaultPrompt();
const std::string& DefaultJsonSchema();

}  // namespace batchscribe::cli

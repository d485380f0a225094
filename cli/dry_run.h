#pragma once
// `batchscribe submit --dry-run`: plans the shards and estimates tokens and cost
// of a submission locally, from the PDFs themselves, without sending anything.
//
// Line sizes are exact (the worker's own request-line builder measures them:
// the PDF's base64 is 4/3 of its bytes, plus the JSON around it); tokens follow the rule of thumb
// of ~4 characters per text token plus a fixed image cost per page, since the model receives both
// the text layer and an image of each page.

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
/// Tokens assumed for the image of one page.
inline constexpr int64_t kImageTokensPerPage = 765;

/// Where the local files are and how shards are capped.
struct DryRunOptions {
  /// The folder that stands for the server's input root.
  std::filesystem::path input_root = ".";
  /// When set, documents whose transcript already exists there count as skipped.
  std::filesystem::path storage_root;
  int64_t max_shard_bytes = kDefaultMaxShardBytes;
  int max_shard_requests = kMaxShardRequests;
};

/// One document as it would be planned.
struct DryRunDocument {
  std::string path;
  std::string document_id;
  int64_t size_bytes = 0;
  int pages = 0;
  /// Bytes of its request line, newline included.
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

// plan: groups the PENDING documents of a batch into shards by exact request
// line size under the shard caps, and queues a prepare task per shard. A
// document that cannot be read, is not a PDF, or whose line alone exceeds the
// byte cap fails alone, with a reason that says so.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "libs/common/logging.h"
#include "libs/jsonl/request_line.h"
#include "libs/pipeline/batch_progress.h"
#include "libs/storage/document_id.h"
#include "services/worker/records.h"
#include "services/worker/shard_planning.h"
#include "services/worker/step.h"

namespace batchscribe::worker {
namespace {

using nlohmann::json;

struct PendingDocument {
  std::string document_id;
  std::string path;
};

std::vector<PendingDocument> LoadPending(pqxx::connection& conn, const std::string& batch_id) {
  pqxx::read_transaction tx(conn);
  auto r = tx.exec_params(
      "SELECT document_id, path FROM documents WHERE batch_id = $1 AND state = 'PENDING' "
      "ORDER BY document_id",
      batch_id);
  std::vector<PendingDocument> docs;
  docs.reserve(r.size());
  for (const auto& row : r) docs.push_back({row[0].as<std::string>(), row[1].as<std::string>()});
  return docs;
}

std::string ShardName(int number) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "s%04d", number);
  return buf;
}

std::string DescribeUnreadable(const absl::Status& status, const std::string& path) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return "input file not found: " + path;
    case absl::StatusCode::kPermissionDenied:
      return "input file not readable: " + path;
    default:
      return "input file rejected (" + path + "): " + std::string(status.message());
  }
}

// Fails documents that cannot be sent; they never reach a shard.
void FailDocuments(pqxx::work& tx, const std::string& batch_id,
                   const std::vector<std::pair<std::string, std::string>>& failures) {
  if (failures.empty()) return;
  json rows = json::array();
  for (const auto& [id, reason] : failures)
    rows.push_back({{"document_id", id}, {"error", reason}});
  tx.exec_params(
      "UPDATE documents d SET state = 'FAILED', error = x.error, update_time = now() "
      "FROM jsonb_to_recordset($2::jsonb) AS x(document_id text, error text) "
      "WHERE d.batch_id = $1 AND d.document_id = x.document_id AND d.state = 'PENDING'",
      batch_id, rows.dump());
  pipeline::RecordBatchError(tx, batch_id,
                             std::to_string(failures.size()) +
                                 " document(s) could not be sent, e.g. " + failures.front().first +
                                 ": " + failures.front().second);
}

// Worst-case cost of documents not yet paid for: estimated input tokens at the
// batch input price plus max_completion_tokens each at the batch output price.
double WorstCaseCost(const pricing::ModelPrice& price, int64_t input_tokens, int64_t documents,
                     int max_completion_tokens) {
  pricing::TokenUsage usage;
  usage.input_tokens = input_tokens;
  usage.output_tokens = documents * static_cast<int64_t>(max_completion_tokens);
  return pricing::CostOf(price, usage, pricing::PricingMode::kBatch);
}

}  // namespace

StepResult RunPlan(StepContext& ctx) {
  auto batch = LoadBatch(ctx.conn, ctx.batch_id());
  if (!batch.ok()) return StepResult::Complete();
  if (batch->mode != "BATCH" || pipeline::IsCancelState(batch->state) ||
      pipeline::IsFinalBatchState(batch->state)) {
    // Nothing to plan; a cancelling batch's PENDING documents are the
    // coordinator's (CancelBatch) or the sweep's to cancel.
    return StepResult::Complete();
  }
  auto builder = jsonl::RequestLineBuilder::Create({batch->model, batch->prompt, batch->json_schema,
                                                    "transcript", batch->max_completion_tokens});
  if (!builder.ok()) {
    std::string reason =
        "the batch's request cannot be built: " + std::string(builder.status().message());
    return StepResult::Complete([id = batch->id, reason](pqxx::work& tx) {
      if (!pipeline::LockBatch(tx, id)) return;
      pipeline::MarkBatchRunning(tx, id);
      pipeline::FailPendingDocuments(tx, id, reason);
    });
  }

  const ShardLimits limits = EffectiveShardLimits(ctx.config);
  std::vector<PlannedDocument> planned;
  std::vector<std::pair<std::string, std::string>> failures;
  for (const PendingDocument& doc : LoadPending(ctx.conn, batch->id)) {
    if (ctx.stopped()) return StepResult::HandBack();
    // The id names the transcript file: one that is not a single safe file name
    // (a tampered row) must never become a path.
    if (absl::Status id = storage::ValidateDocumentId(doc.document_id); !id.ok()) {
      failures.emplace_back(doc.document_id,
                            "document id is not a safe file name: " + std::string(id.message()));
      continue;
    }
    auto info = ctx.input_root.Check(doc.path);
    if (!info.ok()) {
      failures.emplace_back(doc.document_id, DescribeUnreadable(info.status(), doc.path));
      continue;
    }
    PlannedDocument p;
    p.document_id = doc.document_id;
    p.pdf_bytes = info->size_bytes;
    p.line_bytes = builder->LineBytes(doc.document_id, RequestFilename(doc.path),
                                      static_cast<uint64_t>(info->size_bytes));
    p.estimated_tokens = EstimateInputTokens(ctx.config, batch->prompt, info->size_bytes);
    if (p.line_bytes > limits.max_bytes) {
      failures.emplace_back(doc.document_id, "too large for a batch: its request line is " +
                                                 std::to_string(p.line_bytes) +
                                                 " bytes, over the shard limit of " +
                                                 std::to_string(limits.max_bytes) + " bytes");
      continue;
    }
    planned.push_back(std::move(p));
  }
  std::vector<PlannedShard> shards = GroupIntoShards(planned, limits);

  const std::optional<pricing::ModelPrice> price = ctx.config.prices.Find(batch->model);
  ctx.crash_points.Reach("plan.before_complete");
  return StepResult::Complete([batch = *batch, shards, failures, price](pqxx::work& tx) {
    auto state = pipeline::LockBatch(tx, batch.id);
    if (!state || pipeline::IsCancelState(*state) || pipeline::IsFinalBatchState(*state)) return;
    pipeline::MarkBatchRunning(tx, batch.id);
    FailDocuments(tx, batch.id, failures);

    // Cost cap: shards whose worst-case cost would pass max_cost_usd are not sent.
    double headroom = 0;
    if (batch.max_cost_usd > 0 && price) {
      auto r = tx.exec_params(
          "SELECT b.cost_usd, coalesce(sum(s.estimated_tokens), 0), "
          "  coalesce(sum(s.document_count), 0) FROM batches b "
          "LEFT JOIN shards s ON s.batch_id = b.id "
          "  AND s.state IN ('PLANNED', 'PREPARING', 'UPLOADED', 'SUBMITTED', 'RETRIEVING') "
          "WHERE b.id = $1 GROUP BY b.cost_usd",
          batch.id);
      double spent = r[0][0].as<double>();
      double in_flight = WorstCaseCost(*price, r[0][1].as<int64_t>(), r[0][2].as<int64_t>(),
                                       batch.max_completion_tokens);
      headroom = batch.max_cost_usd - spent - in_flight;
    }

    auto next = tx.exec_params(
        "SELECT coalesce(max(substr(shard_id, 2)::int), 0) FROM shards WHERE batch_id = $1",
        batch.id);
    int number = next[0][0].as<int>();
    std::vector<std::pair<std::string, std::string>> over_budget;
    for (const PlannedShard& shard : shards) {
      if (batch.max_cost_usd > 0 && price) {
        double cost = WorstCaseCost(*price, shard.estimated_tokens,
                                    static_cast<int64_t>(shard.documents.size()),
                                    batch.max_completion_tokens);
        if (cost > headroom) {
          char buf[160];
          std::snprintf(buf, sizeof(buf),
                        "not sent: the batch's cost cap of $%.4f would be exceeded "
                        "(worst-case estimate $%.4f for its shard)",
                        batch.max_cost_usd, cost);
          for (const auto& d : shard.documents) over_budget.emplace_back(d.document_id, buf);
          continue;
        }
        headroom -= cost;
      }
      const std::string shard_id = ShardName(++number);
      json rows = json::array();
      for (const auto& d : shard.documents) {
        rows.push_back({{"document_id", d.document_id},
                        {"line_bytes", d.line_bytes},
                        {"estimated_tokens", d.estimated_tokens}});
      }
      tx.exec_params("INSERT INTO shards (batch_id, shard_id, state) VALUES ($1, $2, 'PLANNED')",
                     batch.id, shard_id);
      tx.exec_params(
          "WITH moved AS ("
          "  UPDATE documents d SET state = 'PREPARED', shard_id = $2, update_time = now() "
          "  FROM jsonb_to_recordset($3::jsonb) AS x(document_id text) "
          "  WHERE d.batch_id = $1 AND d.document_id = x.document_id AND d.state = 'PENDING' "
          "  RETURNING d.document_id) "
          "INSERT INTO shard_documents (batch_id, shard_id, document_id, line_bytes) "
          "SELECT $1, $2, x.document_id, x.line_bytes "
          "FROM jsonb_to_recordset($3::jsonb) AS x(document_id text, line_bytes bigint) "
          "JOIN moved m ON m.document_id = x.document_id",
          batch.id, shard_id, rows.dump());
      auto totals = tx.exec_params(
          "UPDATE shards s SET document_count = t.n, input_bytes = t.bytes, "
          "  estimated_tokens = t.tokens, update_time = now() "
          "FROM (SELECT count(*) AS n, coalesce(sum(sd.line_bytes), 0) AS bytes, "
          "        coalesce(sum(x.estimated_tokens), 0) AS tokens "
          "      FROM shard_documents sd "
          "      JOIN jsonb_to_recordset($3::jsonb) AS x(document_id text, estimated_tokens "
          "bigint) "
          "        ON x.document_id = sd.document_id "
          "      WHERE sd.batch_id = $1 AND sd.shard_id = $2) t "
          "WHERE s.batch_id = $1 AND s.shard_id = $2 RETURNING t.n",
          batch.id, shard_id, rows.dump());
      if (totals.empty() || totals[0][0].as<int64_t>() == 0) {
        // Every document changed state meanwhile: no empty shards.
        tx.exec_params("DELETE FROM shards WHERE batch_id = $1 AND shard_id = $2", batch.id,
                       shard_id);
        --number;
        continue;
      }
      queue::NewTask prepare;
      prepare.kind = "prepare";
      prepare.subject = batch.id + "/" + shard_id;
      prepare.batch_id = batch.id;
      queue::Enqueue(tx, prepare);
    }
    FailDocuments(tx, batch.id, over_budget);
    pipeline::NotifyBatchChanged(tx, batch.id);
    pipeline::FinishBatchIfSettled(tx, batch.id);
  });
}

}  // namespace batchscribe::worker

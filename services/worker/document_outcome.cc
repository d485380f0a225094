#include "services/worker/document_outcome.h"

#include <nlohmann/json.hpp>

#include "libs/metrics/metrics.h"
#include "libs/pipeline/batch_progress.h"
#include "libs/queue/task_queue.h"

namespace batchscribe::worker {

using nlohmann::json;

DocumentOutcome DocumentOutcome::FromLine(const jsonl::ResultLine& line,
                                          const std::optional<pricing::ModelPrice>& price,
                                          pricing::PricingMode mode) {
  DocumentOutcome out;
  out.document_id = line.custom_id;
  out.outcome = line.outcome;
  out.error = line.reason;
  // A request that never ran (its batch expired or was cancelled first) was
  // not tried: sending it again spends no attempt (issue 14, item 10).
  out.spend_attempt = line.outcome != jsonl::LineOutcome::kCancelled && !line.never_ran;
  if (line.usage) {
    out.usage = *line.usage;
    out.billed = true;
    if (price) {
      out.cost_usd = pricing::CostOf(*price, out.usage, mode);
      out.sync_cost_usd = pricing::CostOf(*price, out.usage, pricing::PricingMode::kSync);
    }
  }
  return out;
}

DocumentOutcome DocumentOutcome::Missing(const std::string& document_id,
                                         const std::string& openai_status) {
  DocumentOutcome out;
  out.document_id = document_id;
  if (openai_status == "expired") {
    out.outcome = jsonl::LineOutcome::kRetryable;
    out.error = "not executed before the OpenAI batch expired";
    out.spend_attempt = false;
  } else if (openai_status == "cancelled") {
    out.outcome = jsonl::LineOutcome::kCancelled;
    out.error = "not executed before the OpenAI batch was cancelled";
    out.spend_attempt = false;
  } else {
    out.outcome = jsonl::LineOutcome::kRetryable;
    out.error = "missing from the OpenAI result files";
  }
  return out;
}

OutcomeTally RecordOutcomes(pqxx::work& tx, const std::string& batch_id,
                            const std::string& shard_id,
                            const std::vector<DocumentOutcome>& outcomes, bool batch_cancelling,
                            const std::string& retry_kind) {
  OutcomeTally tally;
  if (outcomes.empty()) return tally;
  json rows = json::array();
  for (const auto& o : outcomes) {
    rows.push_back({{"document_id", o.document_id},
                    {"outcome", std::string(jsonl::LineOutcomeName(o.outcome))},
                    {"error", o.error},
                    {"transcript_path", o.transcript_path},
                    {"input_tokens", o.usage.input_tokens},
                    {"cached_input_tokens", o.usage.cached_input_tokens},
                    {"output_tokens", o.usage.output_tokens},
                    {"cost_usd", o.cost_usd},
                    {"sync_cost_usd", o.sync_cost_usd},
                    {"billed", o.billed},
                    {"spend", o.spend_attempt ? 1 : 0}});
  }
  // Retryable (and cancelled-before-running) lines go back to PENDING while
  // attempts remain, or end CANCELLED when the batch is being cancelled.
  auto r = tx.exec_params(
      "UPDATE documents d SET "
      "  attempts = d.attempts + x.spend, "
      "  state = CASE WHEN x.outcome IN ('SUCCEEDED', 'FAILED') THEN x.outcome "
      "               WHEN $4 THEN 'CANCELLED' "
      "               WHEN d.attempts + x.spend < d.max_attempts THEN 'PENDING' "
      "               ELSE 'FAILED' END, "
      "  error = CASE WHEN x.outcome = 'SUCCEEDED' THEN NULL "
      "               WHEN x.outcome = 'FAILED' OR $4 OR d.attempts + x.spend < d.max_attempts "
      "                 THEN x.error "
      "               ELSE x.error || ' (after ' || (d.attempts + x.spend) || ' attempts)' END, "
      "  transcript_path = CASE WHEN x.outcome = 'SUCCEEDED' THEN x.transcript_path "
      "                         ELSE d.transcript_path END, "
      "  input_tokens = d.input_tokens + x.input_tokens, "
      "  cached_input_tokens = d.cached_input_tokens + x.cached_input_tokens, "
      "  output_tokens = d.output_tokens + x.output_tokens, "
      "  cost_usd = d.cost_usd + x.cost_usd, sync_cost_usd = d.sync_cost_usd + x.sync_cost_usd, "
      "  usage_time = CASE WHEN x.billed THEN now() ELSE d.usage_time END, "
      "  update_time = now() "
      "FROM jsonb_to_recordset($3::jsonb) AS x(document_id text, outcome text, error text, "
      "  transcript_path text, input_tokens bigint, cached_input_tokens bigint, "
      "  output_tokens bigint, cost_usd double precision, sync_cost_usd double precision, "
      "  billed boolean, spend int) "
      "WHERE d.batch_id = $1 AND d.document_id = x.document_id "
      "  AND d.shard_id IS NOT DISTINCT FROM NULLIF($2, '') "
      "  AND d.state IN ('PREPARED', 'SUBMITTED') "
      "RETURNING d.document_id, d.state, x.input_tokens, x.cached_input_tokens, "
      "  x.output_tokens, x.cost_usd, x.sync_cost_usd, d.error",
      batch_id, shard_id, rows.dump(), batch_cancelling);

  json shard_rows = json::array();
  double sync_cost = 0;
  std::string example_failure;
  std::string example_retry;
  for (const auto& row : r) {
    const std::string state = row[1].as<std::string>();
    if (state == "SUCCEEDED") ++tally.succeeded;
    if (state == "FAILED") ++tally.failed;
    if (state == "PENDING") ++tally.retried;
    if (state == "CANCELLED") ++tally.cancelled;
    tally.usage.input_tokens += row[2].as<int64_t>();
    tally.usage.cached_input_tokens += row[3].as<int64_t>();
    tally.usage.output_tokens += row[4].as<int64_t>();
    tally.cost_usd += row[5].as<double>();
    sync_cost += row[6].as<double>();
    std::string error = row[7].is_null() ? "" : row[7].as<std::string>();
    if (state == "FAILED" && example_failure.empty()) {
      example_failure = row[0].as<std::string>() + ": " + error;
    }
    if (state == "PENDING" && example_retry.empty()) {
      example_retry = row[0].as<std::string>() + ": " + error;
    }
    shard_rows.push_back({{"document_id", row[0].as<std::string>()},
                          {"outcome", state == "PENDING" ? "RETRYABLE" : state}});
  }
  if (!shard_id.empty() && !shard_rows.empty()) {
    tx.exec_params(
        "UPDATE shard_documents sd SET outcome = x.outcome "
        "FROM jsonb_to_recordset($3::jsonb) AS x(document_id text, outcome text) "
        "WHERE sd.batch_id = $1 AND sd.shard_id = $2 AND sd.document_id = x.document_id",
        batch_id, shard_id, shard_rows.dump());
  }
  pipeline::AddBatchUsage(tx, batch_id, tally.usage, tally.cost_usd, sync_cost);
  const std::string where = shard_id.empty() ? std::string() : "shard " + shard_id + ": ";
  if (tally.failed > 0) {
    pipeline::RecordBatchError(
        tx, batch_id,
        where + std::to_string(tally.failed) + " document(s) failed, e.g. " + example_failure);
  }
  if (tally.retried > 0) {
    pipeline::RecordBatchError(tx, batch_id,
                               where + std::to_string(tally.retried) +
                                   " document(s) will be retried, e.g. " + example_retry);
    queue::NewTask retry{retry_kind, batch_id, batch_id};
    queue::Enqueue(tx, retry);
  }
  pipeline::NotifyBatchChanged(tx, batch_id);
  return tally;
}

void RecordPartOutcomes(pqxx::work& tx, const std::string& batch_id, const std::string& shard_id,
                        const std::vector<PartOutcome>& outcomes) {
  if (outcomes.empty()) return;
  json rows = json::array();
  for (const auto& o : outcomes) {
    rows.push_back({{"document_id", o.document_id},
                    {"first_page", o.first_page},
                    {"last_page", o.last_page},
                    {"state", o.state},
                    {"error", o.error},
                    {"answer_path", o.answer_path},
                    {"split_at", o.split_at},
                    {"input_tokens", o.usage.input_tokens},
                    {"cached_input_tokens", o.usage.cached_input_tokens},
                    {"output_tokens", o.usage.output_tokens},
                    {"cost_usd", o.cost_usd},
                    {"sync_cost_usd", o.sync_cost_usd}});
  }
  // One statement: the parts, the halves of split ones, and the totals.
  tx.exec_params(
      "WITH x AS (SELECT * FROM jsonb_to_recordset($3::jsonb) AS x(document_id text, "
      "    first_page int, last_page int, state text, error text, answer_path text, "
      "    split_at int, input_tokens bigint, cached_input_tokens bigint, "
      "    output_tokens bigint, cost_usd double precision, sync_cost_usd double precision)), "
      "parts AS ("
      "  UPDATE document_parts p SET state = x.state, attempts = p.attempts + 1, "
      "    error = NULLIF(x.error, ''), answer_path = NULLIF(x.answer_path, ''), "
      "    input_tokens = p.input_tokens + x.input_tokens, "
      "    cached_input_tokens = p.cached_input_tokens + x.cached_input_tokens, "
      "    output_tokens = p.output_tokens + x.output_tokens, "
      "    cost_usd = p.cost_usd + x.cost_usd, sync_cost_usd = p.sync_cost_usd + x.sync_cost_usd, "
      "    update_time = now() "
      "  FROM x, documents d "
      "  WHERE p.batch_id = $1 AND p.document_id = x.document_id "
      "    AND p.first_page = x.first_page AND p.last_page = x.last_page "
      "    AND p.state = 'PENDING' AND p.shard_id = $2 "
      "    AND d.batch_id = $1 AND d.document_id = p.document_id AND d.shard_id = $2 "
      "    AND d.state IN ('PREPARED', 'SUBMITTED') "
      "  RETURNING p.document_id, p.first_page, p.last_page, p.state, x.split_at, "
      "    p.estimated_input_tokens, p.estimated_output_tokens, coalesce(d.page_count, 0) AS "
      "doc_pages), "
      "halves AS ("
      "  INSERT INTO document_parts (batch_id, document_id, first_page, last_page, "
      "    estimated_input_tokens, estimated_output_tokens) "
      "  SELECT $1, parts.document_id, h.first_page, h.last_page, "
      "    parts.estimated_input_tokens * (h.last_page - h.first_page + 1) "
      "      / (parts.last_page - parts.first_page + 1), "
      "    parts.estimated_output_tokens * (h.last_page - h.first_page + 1) "
      "      / (parts.last_page - parts.first_page + 1) "
      "  FROM parts CROSS JOIN LATERAL (VALUES (parts.first_page, parts.split_at), "
      "    (parts.split_at + 1, parts.last_page)) AS h(first_page, last_page) "
      "  WHERE parts.state = 'SPLIT' "
      "  ON CONFLICT DO NOTHING), "
      "per_doc AS ("
      "  SELECT document_id, count(*) FILTER (WHERE state = 'SPLIT') AS splits, "
      "    count(*) FILTER (WHERE state = 'SUCCEEDED') AS succeeded, "
      "    coalesce(sum(CASE WHEN state <> 'SUCCEEDED' THEN 0 "
      "                      WHEN last_page = 0 THEN doc_pages "
      "                      ELSE last_page - first_page + 1 END), 0) AS pages "
      "  FROM parts GROUP BY document_id), "
      "docs AS ("
      "  UPDATE documents d SET part_count = d.part_count + per_doc.splits, "
      "    parts_succeeded = d.parts_succeeded + per_doc.succeeded "
      "  FROM per_doc WHERE d.batch_id = $1 AND d.document_id = per_doc.document_id "
      "    AND (per_doc.splits > 0 OR per_doc.succeeded > 0)) "
      "UPDATE batches b SET part_count = b.part_count + t.splits, "
      "  parts_succeeded = b.parts_succeeded + t.succeeded, "
      "  pages_succeeded = b.pages_succeeded + t.pages "
      "FROM (SELECT coalesce(sum(splits), 0) AS splits, coalesce(sum(succeeded), 0) AS succeeded, "
      "        coalesce(sum(pages), 0) AS pages FROM per_doc) t WHERE b.id = $1",
      batch_id, shard_id, rows.dump());
}

void RecordTallyMetrics(metrics::Metrics& metrics, const std::string& model,
                        const std::string& mode, const OutcomeTally& tally) {
  if (tally.succeeded > 0) metrics.DocumentsTransitioned("SUCCEEDED", tally.succeeded);
  if (tally.failed > 0) metrics.DocumentsTransitioned("FAILED", tally.failed);
  if (tally.retried > 0) metrics.DocumentsTransitioned("PENDING", tally.retried);
  if (tally.cancelled > 0) metrics.DocumentsTransitioned("CANCELLED", tally.cancelled);
  if (tally.usage.input_tokens > 0 || tally.usage.output_tokens > 0) {
    metrics.RecordUsage(model, mode, tally.usage.input_tokens, tally.usage.cached_input_tokens,
                        tally.usage.output_tokens, tally.cost_usd);
  }
}

}  // namespace batchscribe::worker

// prepare: streams each PDF of a shard (or, for a document in parts, each
// part's own PDF written by qpdf, libs/pdf) through the base64 encoder into
// batches/<batch>/shards/<shard>/input.jsonl (constant memory, atomic
// rename), uploads it with a .jsonl name and queues submit. A document that
// vanished or became unreadable since planning fails alone.

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "libs/common/logging.h"
#include "libs/jsonl/request_line.h"
#include "libs/pdf/part_planner.h"
#include "libs/pdf/pdf_document.h"
#include "libs/pipeline/batch_progress.h"
#include "libs/storage/atomic_file.h"
#include "libs/storage/layout.h"
#include "services/worker/records.h"
#include "services/worker/shard_planning.h"
#include "services/worker/step.h"

namespace batchscribe::worker {
namespace {

using nlohmann::json;

struct WrittenLine {
  std::string document_id;
  uint64_t line_bytes = 0;
};

struct WriteOutcome {
  absl::Status status;  // not OK: the whole file could not be written (disk)
  std::vector<WrittenLine> lines;
  std::map<std::string, std::string> failed;  // document -> reason
  uint64_t bytes = 0;
  bool stopped = false;
};

// One pass over the documents. A read failure in the middle of a line leaves a
// broken line behind, so the caller runs another pass without that document.
WriteOutcome WriteInputFile(StepContext& ctx, const jsonl::RequestLineBuilder& builder,
                            const std::vector<ShardDocument>& docs,
                            const std::map<std::string, std::string>& excluded,
                            const std::filesystem::path& path, bool& restart) {
  WriteOutcome out;
  const std::string shard_id = ctx.shard_id();
  out.failed = excluded;
  restart = false;
  storage::AtomicFileWriter writer;
  if (auto s = storage::AtomicFileWriter::Open(path, writer); !s.ok()) {
    out.status = s;
    return out;
  }
  for (const ShardDocument& doc : docs) {
    if (out.failed.count(doc.document_id) > 0) continue;
    if (ctx.stopped()) {
      out.stopped = true;
      return out;
    }
    auto file = ctx.input_root.OpenInputFile(doc.path);
    if (!file.ok()) {
      out.failed[doc.document_id] = "input file cannot be read any more (" + doc.path +
                                    "): " + std::string(file.status().message());
      continue;
    }
    const uint64_t size = static_cast<uint64_t>(file->size_bytes());
    const std::string filename = RequestFilename(doc.path);
    absl::Status write_status;
    auto append = [&](std::string_view bytes) {
      write_status = writer.Append(bytes);
      return write_status;
    };
    absl::Status s;
    uint64_t line_bytes = 0;
    if (doc.whole()) {
      // One part: the file itself, unchanged.
      s = builder.WriteLine(
          doc.document_id, filename, size,
          [&](char* buf, size_t n) -> absl::StatusOr<size_t> { return file->Read(buf, n); },
          append);
      line_bytes = builder.LineBytes(doc.document_id, filename, size);
    } else {
      auto splitter = pdf::PdfSplitter::Open(file->fd());
      if (!splitter.ok()) {
        out.failed[doc.document_id] = "input file cannot be split any more (" + doc.path +
                                      "): " + std::string(splitter.status().message());
        continue;
      }
      for (const PartRecord& part : doc.parts) {
        if (part.state != "PENDING" || part.shard_id != shard_id) continue;
        if (ctx.stopped()) {
          out.stopped = true;
          return out;
        }
        const std::string custom_id =
            pdf::PartCustomId(doc.document_id, doc.part_count, part.first_page, part.last_page);
        const std::string part_filename =
            pdf::PartFilename(filename, doc.part_count, part.first_page, part.last_page);
        s = builder.WritePushedLine(
            custom_id, part_filename, part.pdf_bytes,
            [&](const pdf::Sink& sink) {
              return (*splitter)->WritePages(part.first_page, part.last_page, sink);
            },
            append);
        if (!s.ok()) break;
        line_bytes += builder.LineBytes(custom_id, part_filename, part.pdf_bytes);
        // Tests: a kill -9 with some of a document's parts in the file.
        ctx.crash_points.Reach("prepare.between_parts");
      }
    }
    if (!s.ok()) {
      if (!write_status.ok()) {
        out.status = write_status;
        return out;
      }
      // The PDF failed to read or changed mid-stream: drop it and start over.
      out.failed[doc.document_id] = "input file changed or failed while being read (" + doc.path +
                                    "): " + std::string(s.message());
      restart = true;
      return out;
    }
    out.lines.push_back({doc.document_id, line_bytes});
  }
  out.bytes = writer.size();
  if (out.lines.empty()) return out;  // nothing to upload; the temporary file goes away
  out.status = writer.Commit();
  return out;
}

void FailShardDocuments(pqxx::work& tx, const std::string& batch_id, const std::string& shard_id,
                        const std::map<std::string, std::string>& failed) {
  if (failed.empty()) return;
  json rows = json::array();
  for (const auto& [id, reason] : failed) rows.push_back({{"document_id", id}, {"error", reason}});
  tx.exec_params(
      "UPDATE documents d SET state = 'FAILED', error = x.error, update_time = now() "
      "FROM jsonb_to_recordset($3::jsonb) AS x(document_id text, error text) "
      "WHERE d.batch_id = $1 AND d.shard_id = $2 AND d.document_id = x.document_id "
      "  AND d.state = 'PREPARED'",
      batch_id, shard_id, rows.dump());
  tx.exec_params(
      "UPDATE shard_documents sd SET outcome = 'FAILED' "
      "FROM jsonb_to_recordset($3::jsonb) AS x(document_id text) "
      "WHERE sd.batch_id = $1 AND sd.shard_id = $2 AND sd.document_id = x.document_id",
      batch_id, shard_id, rows.dump());
  pipeline::RecordBatchError(
      tx, batch_id,
      "shard " + shard_id + ": " + failed.begin()->first + ": " + failed.begin()->second);
}

}  // namespace

StepResult RunPrepare(StepContext& ctx) {
  const std::string batch_id = ctx.batch_id();
  const std::string shard_id = ctx.shard_id();
  auto batch = LoadBatch(ctx.conn, batch_id);
  auto shard = LoadShard(ctx.conn, batch_id, shard_id);
  if (!batch.ok() || !shard.ok()) return StepResult::Complete();
  if (pipeline::IsCancelState(batch->state) || pipeline::IsFinalBatchState(batch->state)) {
    // CancelBatch normally ended the shard already; make sure nothing is left.
    return StepResult::Complete([batch_id, shard_id](pqxx::work& tx) {
      if (pipeline::LockBatch(tx, batch_id)) pipeline::CancelShard(tx, batch_id, shard_id);
    });
  }
  if (shard->state != "PLANNED" && shard->state != "PREPARING") {
    // Already uploaded by an earlier run whose hand-off committed: nothing to do.
    return StepResult::Complete();
  }
  auto builder = jsonl::RequestLineBuilder::Create({batch->model, batch->prompt, batch->json_schema,
                                                    "transcript", batch->max_completion_tokens});
  if (!builder.ok()) return StepResult::Permanent(std::string(builder.status().message()));

  const std::vector<ShardDocument> docs = LoadInFlightShardDocuments(ctx.conn, batch_id, shard_id);
  const std::filesystem::path path =
      storage::ShardDir(ctx.config.storage_root, batch_id, shard_id) /
      std::string(storage::kShardInputFile);

  std::map<std::string, std::string> excluded;
  WriteOutcome written;
  for (;;) {
    bool restart = false;
    written = WriteInputFile(ctx, *builder, docs, excluded, path, restart);
    if (written.stopped) return StepResult::HandBack();
    if (!written.status.ok()) {
      return StepResult::Retry("writing " + path.string() + ": " +
                               std::string(written.status.message()));
    }
    if (!restart) break;
    excluded = written.failed;
  }

  if (written.bytes > static_cast<uint64_t>(kHardMaxShardBytes) ||
      static_cast<int>(written.lines.size()) > kHardMaxShardRequests) {
    // Files grew after planning: plan these documents again, at no attempt.
    return StepResult::Complete([batch_id, shard_id](pqxx::work& tx) {
      if (!pipeline::LockBatch(tx, batch_id)) return;
      tx.exec_params(
          "UPDATE shards SET state = 'FAILED', error = 'input grew past the OpenAI file limit; "
          "documents planned again', update_time = now() "
          "WHERE batch_id = $1 AND shard_id = $2",
          batch_id, shard_id);
      pipeline::ReleaseShardDocuments(tx, batch_id, shard_id, "planned again", false);
    });
  }

  if (written.lines.empty()) {
    return StepResult::Complete([batch_id, shard_id, failed = written.failed](pqxx::work& tx) {
      if (!pipeline::LockBatch(tx, batch_id)) return;
      FailShardDocuments(tx, batch_id, shard_id, failed);
      tx.exec_params(
          "UPDATE shards SET state = 'DONE', document_count = 0, error = 'no readable document', "
          "  update_time = now() WHERE batch_id = $1 AND shard_id = $2 "
          "  AND state IN ('PLANNED', 'PREPARING')",
          batch_id, shard_id);
      pipeline::NotifyBatchChanged(tx, batch_id);
      pipeline::FinishBatchIfSettled(tx, batch_id);
    });
  }

  ctx.crash_points.Reach("prepare.before_upload");
  auto file = ctx.openai.UploadBatchFile(path, batch_id + "-" + shard_id + ".jsonl");
  if (!file.ok()) return StepResult::FromStatus(file.status(), "uploading " + path.string());
  log::Info("shard input uploaded", {{"batch_id", batch_id},
                                     {"shard_id", shard_id},
                                     {"file_id", file->id},
                                     {"bytes", written.bytes},
                                     {"documents", written.lines.size()}});
  ctx.crash_points.Reach("prepare.after_upload");

  json lines = json::array();
  for (const auto& l : written.lines) {
    lines.push_back({{"document_id", l.document_id}, {"line_bytes", l.line_bytes}});
  }
  return StepResult::Complete([batch_id, shard_id, file_id = file->id, bytes = written.bytes,
                               count = written.lines.size(), lines = lines.dump(),
                               failed = written.failed](pqxx::work& tx) {
    auto state = pipeline::LockBatch(tx, batch_id);
    if (!state) return;
    FailShardDocuments(tx, batch_id, shard_id, failed);
    tx.exec_params(
        "UPDATE shard_documents sd SET line_bytes = x.line_bytes "
        "FROM jsonb_to_recordset($3::jsonb) AS x(document_id text, line_bytes bigint) "
        "WHERE sd.batch_id = $1 AND sd.shard_id = $2 AND sd.document_id = x.document_id",
        batch_id, shard_id, lines);
    // A shard cancelled meanwhile (CancelBatch) stays cancelled: no submit.
    auto r = tx.exec_params(
        "UPDATE shards SET state = 'UPLOADED', input_file_id = $3, input_bytes = $4, "
        "  document_count = $5, error = NULL, update_time = now() "
        "WHERE batch_id = $1 AND shard_id = $2 AND state IN ('PLANNED', 'PREPARING')",
        batch_id, shard_id, file_id, static_cast<int64_t>(bytes), static_cast<int>(count));
    if (r.affected_rows() == 1 && !pipeline::IsCancelState(*state)) {
      queue::NewTask submit;
      submit.kind = "submit";
      submit.subject = batch_id + "/" + shard_id;
      submit.batch_id = batch_id;
      queue::Enqueue(tx, submit);
    }
    pipeline::NotifyBatchChanged(tx, batch_id);
    pipeline::FinishBatchIfSettled(tx, batch_id);
  });
}

}  // namespace batchscribe::worker

// retrieve: an OpenAI batch output file -> validated transcripts, through the
// real worker. A fresh database gets one shard in RETRIEVING with a SUBMITTED
// document per line of the file (custom_ids doc-000001..), the way poll leaves
// it; a worker that takes only `retrieve` tasks then "downloads" the file (a
// local copy, see worker_fixture.h), parses and classifies every line,
// validates each answer against the shipped schema, writes every transcript
// with storage::AtomicWriteFile and records outcomes, usage and cost in one
// transaction. Prints lines/s from the worker's start until the shard is DONE.
//
//   bench-retrieve --admin_url URL --database NAME --output FILE --storage DIR

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>

#include "bench/support/bench_database.h"
#include "bench/support/bench_support.h"
#include "bench/support/worker_fixture.h"
#include "libs/queue/task_queue.h"

namespace batchscribe::bench {
namespace {

namespace fs = std::filesystem;
constexpr const char* kBatchId = "benchretrieve0000000";
constexpr const char* kShardId = "s0001";

int64_t CountLines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) n += line.empty() ? 0 : 1;
  return n;
}

int Run(const std::string& admin_url, const std::string& database, const fs::path& output,
        const fs::path& storage) {
  const int64_t lines = CountLines(output);
  // Retrieve reads no input; the worker still wants an existing input root.
  fs::create_directories(storage);
  auto url = CreateBenchDatabase(admin_url, database);
  if (!url.ok()) {
    std::cerr << url.status() << "\n";
    return 1;
  }
  {
    pqxx::connection conn(*url);
    pqxx::work tx(conn);
    tx.exec_params(
        "INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema, "
        "  max_completion_tokens, skip_existing) "
        "VALUES ($1, 'bench', 'RUNNING', 'gpt-4.1-mini', 'BATCH', $2, $3, 16000, false)",
        kBatchId, ShippedPrompt(), ShippedSchema());
    tx.exec_params(
        "INSERT INTO shards (batch_id, shard_id, state, document_count, input_file_id, "
        "  openai_batch_id, openai_status, output_file_id) "
        "VALUES ($1, $2, 'RETRIEVING', $3, 'file-bench-input', 'batch_bench', 'completed', "
        "  'file-bench-output')",
        kBatchId, kShardId, lines);
    tx.exec_params(
        "INSERT INTO documents (batch_id, document_id, path, size_bytes, state, attempts, "
        "  shard_id) "
        "SELECT $1, 'doc-' || lpad(g::text, 6, '0'), 'docs/doc-' || lpad(g::text, 6, '0') || "
        "  '.pdf', 100000, 'SUBMITTED', 0, $2 FROM generate_series(1, $3) g",
        kBatchId, kShardId, lines);
    tx.exec_params(
        "INSERT INTO shard_documents (batch_id, shard_id, document_id, line_bytes) "
        "SELECT $1, $2, document_id, 140000 FROM documents WHERE batch_id = $1",
        kBatchId, kShardId);
    queue::Enqueue(tx, {.kind = "retrieve",
                        .subject = std::string(kBatchId) + "/" + kShardId,
                        .batch_id = kBatchId});
    tx.commit();
  }
  WorkerRun run;
  run.database_url = *url;
  run.input_root = storage;
  run.storage_root = storage;
  run.kinds = {"retrieve"};
  run.concurrency = 1;
  run.download_source = output;
  run.done = [](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto r = tx.exec_params(
        "SELECT count(*) FROM tasks WHERE batch_id = $1 AND kind = 'retrieve' "
        "  AND state IN ('available', 'running')",
        kBatchId);
    return r[0][0].as<int64_t>() == 0;
  };
  auto seconds = RunWorkerUntilDone(run);
  if (!seconds.ok()) {
    std::cerr << seconds.status() << "\n";
    return 1;
  }
  pqxx::connection conn(*url);
  pqxx::read_transaction tx(conn);
  auto docs = tx.exec_params1(
      "SELECT count(*) FILTER (WHERE state = 'SUCCEEDED'), count(*) FROM documents "
      "WHERE batch_id = $1",
      kBatchId);
  tx.commit();
  const int64_t succeeded = docs[0].as<int64_t>();
  PrintResult({{"lines", lines},
               {"succeeded", succeeded},
               {"seconds", *seconds},
               {"lines_per_s", static_cast<double>(lines) / *seconds},
               {"peak_rss_bytes", SelfPeakRssBytes()}});
  (void)DropBenchDatabase(admin_url, database);
  return succeeded == lines ? 0 : 1;
}

}  // namespace
}  // namespace batchscribe::bench

int main(int argc, char** argv) {
  CLI::App app{"retrieve: batch output file -> transcripts through the real worker"};
  std::string admin_url, database = "bench_retrieve", output, storage;
  app.add_option("--admin_url", admin_url, "superuser URL of the cluster")->required();
  app.add_option("--database", database, "database to (re)create and drop");
  app.add_option("--output", output, "batch output file (custom_ids doc-000001..)")->required();
  app.add_option("--storage", storage, "storage root for transcripts")->required();
  CLI11_PARSE(app, argc, argv);
  return batchscribe::bench::Run(admin_url, database, output, storage);
}

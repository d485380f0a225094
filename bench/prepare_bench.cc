// prepare: PDFs -> shard input files, through the real worker. A fresh
// database gets a PENDING batch of every PDF in a folder with its plan task,
// the way SubmitDocuments leaves it; a worker that takes only `plan` and
// `prepare` tasks then plans the shards and writes each input.jsonl (streamed
// base64, atomic rename). Uploads are accepted without a transfer (see
// worker_fixture.h). Prints raw PDF MB/s from the worker's start until every
// shard is UPLOADED.
//
//   bench-prepare --admin_url URL --database NAME --input_root DIR --directory SUB
//                 --storage DIR [--concurrency 4]

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "bench/support/bench_database.h"
#include "bench/support/bench_support.h"
#include "bench/support/worker_fixture.h"
#include "libs/queue/task_queue.h"

namespace batchscribe::bench {
namespace {

namespace fs = std::filesystem;
constexpr const char* kBatchId = "benchprepare00000000";

int Run(const std::string& admin_url, const std::string& database, const fs::path& input_root,
        const std::string& directory, const fs::path& storage, int concurrency) {
  std::vector<fs::path> pdfs;
  for (const auto& entry : fs::directory_iterator(input_root / directory)) {
    if (entry.path().extension() == ".pdf") pdfs.push_back(entry.path());
  }
  std::sort(pdfs.begin(), pdfs.end());
  auto url = CreateBenchDatabase(admin_url, database);
  if (!url.ok()) {
    std::cerr << url.status() << "\n";
    return 1;
  }
  int64_t raw_bytes = 0;
  {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& pdf : pdfs) {
      const auto size = static_cast<int64_t>(fs::file_size(pdf));
      raw_bytes += size;
      rows.push_back({{"document_id", pdf.stem().string()},
                      {"path", directory + "/" + pdf.filename().string()},
                      {"size_bytes", size}});
    }
    pqxx::connection conn(*url);
    pqxx::work tx(conn);
    tx.exec_params(
        "INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema, "
        "  max_completion_tokens, skip_existing) "
        "VALUES ($1, 'bench', 'PENDING', 'gpt-4.1-mini', 'BATCH', $2, $3, 16000, false)",
        kBatchId, ShippedPrompt(), ShippedSchema());
    tx.exec_params(
        "INSERT INTO documents (batch_id, document_id, path, size_bytes, state) "
        "SELECT $1, x.document_id, x.path, x.size_bytes, 'PENDING' "
        "FROM jsonb_to_recordset($2::jsonb) AS x(document_id text, path text, size_bytes bigint)",
        kBatchId, rows.dump());
    queue::Enqueue(tx, {.kind = "plan", .subject = kBatchId, .batch_id = kBatchId});
    tx.commit();
  }
  WorkerRun run;
  run.database_url = *url;
  run.input_root = input_root;
  run.storage_root = storage;
  run.kinds = {"plan", "prepare"};
  run.concurrency = concurrency;
  run.done = [](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto r = tx.exec_params(
        "SELECT count(*) FROM tasks WHERE batch_id = $1 AND kind IN ('plan', 'prepare') "
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
  auto shards = tx.exec_params1(
      "SELECT count(*), count(*) FILTER (WHERE state = 'UPLOADED'), coalesce(sum(input_bytes), 0) "
      "FROM shards WHERE batch_id = $1",
      kBatchId);
  auto docs = tx.exec_params1(
      "SELECT count(*) FILTER (WHERE state = 'PREPARED'), count(*) FROM documents "
      "WHERE batch_id = $1",
      kBatchId);
  tx.commit();
  const int64_t prepared = docs[0].as<int64_t>();
  if (prepared != docs[1].as<int64_t>()) {
    auto why = pqxx::read_transaction(conn).exec_params(
        "SELECT document_id, error FROM documents WHERE batch_id = $1 AND state <> 'PREPARED' "
        "ORDER BY document_id LIMIT 3",
        kBatchId);
    for (const auto& row : why) {
      std::cerr << row[0].c_str() << ": " << (row[1].is_null() ? "" : row[1].c_str()) << "\n";
    }
  }
  PrintResult({{"documents", docs[1].as<int64_t>()},
               {"prepared", prepared},
               {"shards", shards[0].as<int64_t>()},
               {"uploaded_shards", shards[1].as<int64_t>()},
               {"raw_bytes", raw_bytes},
               {"jsonl_bytes", shards[2].as<int64_t>()},
               {"seconds", *seconds},
               {"mb_per_s", static_cast<double>(raw_bytes) / *seconds / 1e6},
               {"peak_rss_bytes", SelfPeakRssBytes()}});
  (void)DropBenchDatabase(admin_url, database);
  return prepared == docs[1].as<int64_t>() ? 0 : 1;
}

}  // namespace
}  // namespace batchscribe::bench

int main(int argc, char** argv) {
  CLI::App app{"prepare: PDFs -> shard input files through the real worker"};
  std::string admin_url, database = "bench_prepare", input_root, directory, storage;
  int concurrency = 4;
  app.add_option("--admin_url", admin_url, "superuser URL of the cluster")->required();
  app.add_option("--database", database, "database to (re)create and drop");
  app.add_option("--input_root", input_root)->required();
  app.add_option("--directory", directory, "folder of PDFs under the input root")->required();
  app.add_option("--storage", storage, "storage root for the shard files")->required();
  app.add_option("--concurrency", concurrency, "worker slots (the worker's default is 4)");
  CLI11_PARSE(app, argc, argv);
  return batchscribe::bench::Run(admin_url, database, input_root, directory, storage, concurrency);
}

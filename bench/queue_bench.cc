// Claim + complete cycles per second of libs/queue against PostgreSQL, with
// N concurrent claimers (threads, one connection each). A cycle is what a
// worker does for every task: Claim one, then Complete it in a transaction
// that enqueues the next step (the transactional hand-off of DESIGN §4), so
// the queue depth stays constant for the whole run.
//
//   bench-queue setup --admin_url URL --database NAME --depth N
//   bench-queue run   --database_url URL --claimers N --cycles C
//   bench-queue drop  --admin_url URL --database NAME
//
// `setup` creates the database with the real migrations and N available tasks;
// bench/queue_cycle.pgbench drives the same statements through pgbench on a
// database set up the same way, for the comparison.

#include <CLI/CLI.hpp>
#include <atomic>
#include <barrier>
#include <iostream>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "bench/support/bench_database.h"
#include "bench/support/bench_support.h"
#include "libs/queue/task_queue.h"

namespace batchscribe::bench {
namespace {

constexpr const char* kBatchId = "benchqueue0000000000";

int Setup(const std::string& admin_url, const std::string& database, int depth) {
  absl::StatusOr<std::string> url = CreateBenchDatabase(admin_url, database);
  if (!url.ok()) {
    std::cerr << "setup: " << url.status() << "\n";
    return 1;
  }
  pqxx::connection conn(*url);
  {
    pqxx::work tx(conn);
    tx.exec_params(
        "INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema, "
        "  max_completion_tokens, skip_existing) "
        "VALUES ($1, 'bench', 'RUNNING', 'gpt-4.1-mini', 'BATCH', 'p', '{}', 1000, true)",
        kBatchId);
    tx.exec_params(
        "INSERT INTO tasks (kind, subject, batch_id) "
        "SELECT 'poll', 'bench/' || g, $1 FROM generate_series(1, $2) g",
        kBatchId, depth);
    tx.commit();
  }
  pqxx::nontransaction(conn).exec("VACUUM ANALYZE tasks");
  PrintResult({{"database_url", *url}, {"depth", depth}});
  return 0;
}

int Run(const std::string& url, int claimers, int cycles) {
  std::atomic<int> issued{0};
  std::atomic<int> empty_claims{0};
  std::atomic<int> lost{0};
  std::mutex mu;
  std::string error;
  LatencySamples claim_latency, complete_latency;
  std::chrono::steady_clock::time_point start;
  std::barrier ready(claimers + 1, [&]() noexcept { start = std::chrono::steady_clock::now(); });

  auto claimer = [&](int index) {
    LatencySamples my_claim, my_complete;
    try {
      pqxx::connection conn(url);
      queue::SystemClock clock;
      queue::TaskQueue tasks(
          conn, clock,
          {.lease = std::chrono::seconds(60), .owner = "bench-" + std::to_string(index)});
      ready.arrive_and_wait();
      while (issued.fetch_add(1) < cycles) {
        std::vector<queue::Task> claimed;
        while (true) {
          auto t0 = std::chrono::steady_clock::now();
          claimed = tasks.Claim({}, 1);
          my_claim.Add(std::chrono::steady_clock::now() - t0);
          if (!claimed.empty()) break;
          empty_claims.fetch_add(1);
        }
        const queue::Task& task = claimed.front();
        auto t0 = std::chrono::steady_clock::now();
        absl::Status done = tasks.Complete(task, [&](pqxx::work& tx) {
          queue::Enqueue(tx, {.kind = task.kind,
                              .subject = "bench/next-" + std::to_string(task.id),
                              .batch_id = task.batch_id});
        });
        my_complete.Add(std::chrono::steady_clock::now() - t0);
        if (!done.ok()) lost.fetch_add(1);
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(mu);
      error = e.what();
    }
    std::lock_guard lock(mu);
    claim_latency.Merge(my_claim);
    complete_latency.Merge(my_complete);
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < claimers; ++i) threads.emplace_back(claimer, i);
  ready.arrive_and_wait();
  for (auto& t : threads) t.join();
  const double seconds = SecondsSince(start);
  if (!error.empty()) {
    std::cerr << "run: " << error << "\n";
    return 1;
  }
  const int completed = static_cast<int>(complete_latency.count()) - lost.load();
  PrintResult({{"claimers", claimers},
               {"cycles", completed},
               {"seconds", seconds},
               {"cycles_per_s", completed / seconds},
               {"empty_claims", empty_claims.load()},
               {"lost_leases", lost.load()},
               {"claim", claim_latency.Summary()},
               {"complete", complete_latency.Summary()}});
  return lost.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace batchscribe::bench

int main(int argc, char** argv) {
  CLI::App app{"libs/queue claim + complete cycles per second"};
  app.require_subcommand(1);
  std::string admin_url, database, url;
  int depth = 1000, claimers = 1, cycles = 10000;
  auto* setup = app.add_subcommand("setup", "create the database and the available tasks");
  setup->add_option("--admin_url", admin_url, "superuser URL of the cluster")->required();
  setup->add_option("--database", database, "database to (re)create")->required();
  setup->add_option("--depth", depth, "available tasks kept in the queue");
  auto* run = app.add_subcommand("run", "run claim + complete cycles");
  run->add_option("--database_url", url, "database made by setup")->required();
  run->add_option("--claimers", claimers, "concurrent claimers (threads)");
  run->add_option("--cycles", cycles, "claim + complete cycles in all");
  auto* drop = app.add_subcommand("drop", "drop the database");
  drop->add_option("--admin_url", admin_url)->required();
  drop->add_option("--database", database)->required();
  CLI11_PARSE(app, argc, argv);
  using namespace batchscribe::bench;
  if (*setup) return Setup(admin_url, database, depth);
  if (*run) return Run(url, claimers, cycles);
  absl::Status dropped = DropBenchDatabase(admin_url, database);
  if (!dropped.ok()) std::cerr << "drop: " << dropped << "\n";
  return dropped.ok() ? 0 : 1;
}

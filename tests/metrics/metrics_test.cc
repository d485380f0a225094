// Scrapes /metrics over real HTTP and checks that the series of issue 5 are there
// with the labels and values that were recorded, and that the database gauges
// follow the tasks, documents and batches tables.

#include "libs/metrics/metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_env.h"

namespace batchscribe::metrics {
namespace {

using ::batchscribe::testing::FreePort;
using ::batchscribe::testing::SourceDir;
using ::batchscribe::testing::TestDatabase;

// One parsed exposition: "name{label="v",...}" -> value, plus the TYPE lines.
struct Scrape {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;

  bool Has(const std::string& series) const { return samples.count(series) > 0; }
  double Value(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }
};

// Parses the Prometheus text format. Every non-comment line must be
// "<series> <value>"; anything else fails the test.
Scrape Parse(const std::string& text) {
  Scrape scrape;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      scrape.types[name] = type;
      continue;
    }
    if (line[0] == '#') continue;
    const auto space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    scrape.samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return scrape;
}

Scrape HttpScrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  auto response = client.Get("/metrics");
  EXPECT_TRUE(response) << "no answer from the metrics port";
  if (!response) return {};
  EXPECT_EQ(response->status, 200);
  return Parse(response->body);
}

TEST(MetricsTest, ServesEveryNamedSeriesOverHttp) {
  const int port = FreePort();
  auto metrics = Metrics::Start({.port = port, .bind_address = "127.0.0.1", .service = "worker"});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  Metrics& m = **metrics;
  EXPECT_EQ(m.port(), port);

  m.TaskClaimed("prepare");
  m.TaskClaimed("prepare");
  m.TaskSucceeded("prepare", std::chrono::milliseconds(300));
  m.TaskFailed("submit", TaskFailure::kRetry, std::chrono::seconds(2));
  m.TaskFailed("submit", TaskFailure::kFinal, std::chrono::seconds(3));
  m.TaskSnoozed("poll", std::chrono::milliseconds(20));
  m.LeasesRescued(3);
  m.OpenAiRequest(OpenAiEndpoint("POST", "/v1/files"), 200);
  m.OpenAiRequest(OpenAiEndpoint("GET", "/v1/batches/batch_123"), 429);
  m.OpenAiRequest(OpenAiEndpoint("GET", "/v1/batches/batch_123"), 429);
  m.OpenAiRequest(OpenAiEndpoint("POST", "/v1/chat/completions"), 0);
  m.BytesUploaded(1000);
  m.BytesDownloaded(250);
  m.RecordUsage("gpt-4.1-mini", "batch", 1200, 200, 300, 0.0005);
  m.RecordUsage("gpt-4.1-mini", "batch", 800, 0, 100, 0.0003);
  m.DocumentsTransitioned("SUCCEEDED", 2);
  m.GrpcRequest("GetBatch", "NOT_FOUND");

  const Scrape s = HttpScrape(port);
  EXPECT_EQ(s.Value(R"(batchscribe_build_info{service="worker",version="0.1.0"})"), 1);
  EXPECT_EQ(s.Value(R"(batchscribe_tasks_claimed_total{kind="prepare"})"), 2);
  EXPECT_EQ(s.Value(R"(batchscribe_tasks_succeeded_total{kind="prepare"})"), 1);
  EXPECT_EQ(s.Value(R"(batchscribe_tasks_failed_total{final="false",kind="submit"})"), 1);
  EXPECT_EQ(s.Value(R"(batchscribe_tasks_failed_total{final="true",kind="submit"})"), 1);
  EXPECT_EQ(s.Value(R"(batchscribe_tasks_snoozed_total{kind="poll"})"), 1);
  EXPECT_EQ(s.types.at("batchscribe_task_duration_seconds"), "histogram");
  EXPECT_EQ(s.Value(R"(batchscribe_task_duration_seconds_count{kind="submit"})"), 2);
  EXPECT_DOUBLE_EQ(s.Value(R"(batchscribe_task_duration_seconds_sum{kind="submit"})"), 5);
  EXPECT_EQ(s.Value(R"(batchscribe_task_duration_seconds_bucket{kind="prepare",le="0.5"})"), 1);
  EXPECT_EQ(s.Value(R"(batchscribe_task_duration_seconds_bucket{kind="prepare",le="0.25"})"), 0);
  EXPECT_EQ(s.Value("batchscribe_lease_rescues_total"), 3);
  EXPECT_EQ(s.Value(R"(batchscribe_openai_requests_total{endpoint="POST /files",status="200"})"),
            1);
  EXPECT_EQ(
      s.Value(R"(batchscribe_openai_requests_total{endpoint="GET /batches/{id}",status="429"})"),
      2);
  EXPECT_EQ(
      s.Value(R"(batchscribe_openai_requests_total{endpoint="POST /chat/completions",status="0"})"),
      1);
  EXPECT_EQ(s.Value(R"(batchscribe_openai_bytes_total{direction="upload"})"), 1000);
  EXPECT_EQ(s.Value(R"(batchscribe_openai_bytes_total{direction="download"})"), 250);
  EXPECT_EQ(s.Value(R"(batchscribe_tokens_total{mode="batch",model="gpt-4.1-mini",type="input"})"),
            2000);
  EXPECT_EQ(
      s.Value(R"(batchscribe_tokens_total{mode="batch",model="gpt-4.1-mini",type="cached_input"})"),
      200);
  EXPECT_EQ(s.Value(R"(batchscribe_tokens_total{mode="batch",model="gpt-4.1-mini",type="output"})"),
            400);
  EXPECT_NEAR(s.Value(R"(batchscribe_cost_usd_total{mode="batch",model="gpt-4.1-mini"})"), 0.0008,
              1e-9);
  EXPECT_EQ(s.Value(R"(batchscribe_documents_transitioned_total{state="SUCCEEDED"})"), 2);
  EXPECT_EQ(s.Value(R"(batchscribe_grpc_requests_total{code="NOT_FOUND",method="GetBatch"})"), 1);
  EXPECT_EQ(s.types.at("batchscribe_tasks_claimed_total"), "counter");

  // What Serialize() returns is what a scrape returns (which adds the exposer's
  // own exposer_* series).
  std::map<std::string, double> scraped;
  for (const auto& [series, value] : s.samples) {
    if (series.rfind("batchscribe_", 0) == 0) scraped[series] = value;
  }
  EXPECT_EQ(Parse(m.Serialize()).samples, scraped);
}

TEST(MetricsTest, PortZeroServesNothingButRecords) {
  auto metrics = Metrics::Start({.port = 0, .service = "coordinator"});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ((*metrics)->port(), 0);
  (*metrics)->LeasesRescued(2);
  const Scrape s = Parse((*metrics)->Serialize());
  EXPECT_EQ(s.Value("batchscribe_lease_rescues_total"), 2);
  EXPECT_TRUE(s.Has(R"(batchscribe_build_info{service="coordinator",version="0.1.0"})"));
}

TEST(MetricsTest, PortInUseIsUnavailable) {
  const int port = FreePort();
  auto first = Metrics::Start({.port = port, .bind_address = "127.0.0.1", .service = "worker"});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Metrics::Start({.port = port, .bind_address = "127.0.0.1", .service = "worker"});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

TEST(MetricsTest, OpenAiEndpointTemplatesIds) {
  EXPECT_EQ(OpenAiEndpoint("POST", "/v1/files"), "POST /files");
  EXPECT_EQ(OpenAiEndpoint("GET", "/v1/files/file-abc/content"), "GET /files/{id}/content");
  EXPECT_EQ(OpenAiEndpoint("POST", "/v1/batches/batch_1/cancel"), "POST /batches/{id}/cancel");
  EXPECT_EQ(OpenAiEndpoint("GET", "/v1/batches?limit=100&after=batch_9"), "GET /batches");
  EXPECT_EQ(OpenAiEndpoint("POST", "/v1/chat/completions"), "POST /chat/completions");
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(MetricsTest, DatabaseGaugesFollowTheTables) {
  TestDatabase db;
  {
    pqxx::connection conn(db.url());
    pqxx::work tx(conn);
    // Every migration, in order (the gauges read document_counts of 0003).
    std::vector<std::filesystem::path> migrations;
    for (const auto& e : std::filesystem::directory_iterator(SourceDir() / "libs/db/migrations")) {
      if (e.path().extension() == ".sql") migrations.push_back(e.path());
    }
    std::sort(migrations.begin(), migrations.end());
    for (const auto& m : migrations) tx.exec(ReadFile(m));
    tx.exec(R"sql(
      INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema,
                           max_completion_tokens, skip_existing)
      VALUES ('b1', 'h', 'RUNNING', 'gpt-4.1-mini', 'BATCH', 'p', '{}', 100, true),
             ('b2', 'h', 'SUCCEEDED', 'gpt-4.1-mini', 'BATCH', 'p', '{}', 100, true);
      INSERT INTO documents (batch_id, document_id, path, size_bytes, state)
      VALUES ('b1', 'd1', 'd1.pdf', 1, 'PENDING'), ('b1', 'd2', 'd2.pdf', 1, 'PENDING'),
             ('b1', 'd3', 'd3.pdf', 1, 'SUCCEEDED'), ('b2', 'd1', 'd1.pdf', 1, 'SUCCEEDED');
      INSERT INTO tasks (kind, subject, batch_id, state, run_at)
      VALUES ('prepare', 'b1/s0001', 'b1', 'available', now() - interval '90 seconds'),
             ('prepare', 'b1/s0002', 'b1', 'available', now() - interval '10 seconds'),
             ('poll', 'b1/s0003', 'b1', 'available', now() + interval '1 hour'),
             ('retrieve', 'b1/s0004', 'b1', 'running', now()),
             ('plan', 'b2', 'b2', 'succeeded', now() - interval '1 day');
    )sql");
    tx.commit();
  }
  const int port = FreePort();
  auto metrics =
      Metrics::Start({.port = port, .bind_address = "127.0.0.1", .service = "coordinator"});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  (*metrics)->AddDatabaseStats(db.url(), std::chrono::milliseconds(0));

  const Scrape s = HttpScrape(port);
  EXPECT_EQ(s.Value("batchscribe_metrics_database_up"), 1);
  EXPECT_EQ(s.Value(R"(batchscribe_queue_depth{kind="prepare"})"), 2);
  EXPECT_EQ(s.Value(R"(batchscribe_queue_depth{kind="poll"})"), 0);
  EXPECT_EQ(s.Value(R"(batchscribe_queue_depth{kind="plan"})"), 0);
  EXPECT_EQ(s.Value(R"(batchscribe_queue_scheduled{kind="poll"})"), 1);
  EXPECT_EQ(s.Value(R"(batchscribe_queue_running{kind="retrieve"})"), 1);
  EXPECT_GE(s.Value(R"(batchscribe_queue_lag_seconds{kind="prepare"})"), 89);
  EXPECT_EQ(s.Value(R"(batchscribe_queue_lag_seconds{kind="poll"})"), 0);
  EXPECT_EQ(s.Value(R"(batchscribe_documents{state="PENDING"})"), 2);
  EXPECT_EQ(s.Value(R"(batchscribe_documents{state="SUCCEEDED"})"), 1);  // b2 has ended
  EXPECT_EQ(s.Value(R"(batchscribe_documents{state="FAILED"})"), 0);
  EXPECT_EQ(s.Value(R"(batchscribe_batches{state="RUNNING"})"), 1);
  EXPECT_EQ(s.Value(R"(batchscribe_batches{state="SUCCEEDED"})"), 1);
  EXPECT_EQ(s.types.at("batchscribe_queue_depth"), "gauge");

  // The next scrape sees changes.
  {
    pqxx::connection conn(db.url());
    pqxx::work tx(conn);
    tx.exec("UPDATE tasks SET state = 'running' WHERE subject = 'b1/s0001'");
    tx.commit();
  }
  const Scrape after = HttpScrape(port);
  EXPECT_EQ(after.Value(R"(batchscribe_queue_depth{kind="prepare"})"), 1);
  EXPECT_EQ(after.Value(R"(batchscribe_queue_running{kind="prepare"})"), 1);
}

TEST(MetricsTest, UnreachableDatabaseDoesNotFailTheScrape) {
  auto metrics = Metrics::Start({.port = 0, .service = "coordinator"});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const int closed_port = FreePort();
  (*metrics)->AddDatabaseStats(
      "postgresql://postgres@127.0.0.1:" + std::to_string(closed_port) + "/postgres",
      std::chrono::milliseconds(0));
  const Scrape s = Parse((*metrics)->Serialize());
  EXPECT_EQ(s.Value("batchscribe_metrics_database_up"), 0);
  EXPECT_TRUE(s.Has(R"(batchscribe_build_info{service="coordinator",version="0.1.0"})"));
}

}  // namespace
}  // namespace batchscribe::metrics

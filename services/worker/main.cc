// batchscribe-worker: runs the pipeline's tasks (plan, prepare, submit, poll,
// retrieve, cancel, transcribe) claimed from PostgreSQL. Any number of workers
// share the work through the database only. SIGTERM: stop claiming, let
// running tasks finish for --drain_seconds, hand back the rest, exit.

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include "libs/common/logging.h"
#include "libs/common/secrets.h"
#include "libs/db/migrations.h"
#include "libs/metrics/metrics.h"
#include "libs/openai/curl_openai_client.h"
#include "services/worker/health.h"
#include "services/worker/worker.h"
#include "services/worker/worker_flags.h"

namespace {

using batchscribe::worker::WorkerConfig;
namespace log = batchscribe::log;

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "worker";
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"batchscribe-worker: runs the batchscribe pipeline tasks"};
  batchscribe::worker::WorkerFlags flags;
  batchscribe::worker::AddWorkerFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  log::Init("worker", flags.log_level);
  if (!flags.health_check.empty()) {
    const absl::Status health = batchscribe::worker::CheckHealthEndpoint(flags.health_check);
    std::cout << (health.ok() ? std::string("healthy") : std::string(health.message())) << "\n";
    return health.ok() ? 0 : 1;
  }

  auto config = batchscribe::worker::BuildConfig(flags);
  if (!config.ok()) {
    log::Error("invalid configuration", {{"error", std::string(config.status().message())}});
    return 2;
  }
  config->owner = Hostname() + ":" + std::to_string(getpid());
  batchscribe::RegisterDatabaseUrlSecret(config->database_url);
  // A worker frozen (SIGSTOP, a stalled VM) inside a transaction would hold its
  // task row locked, and lease rescue skips locked rows: let PostgreSQL end
  // such a session after one lease, so the task can be rescued. libpq reads
  // PGOPTIONS for every connection this process opens.
  {
    const char* existing = std::getenv("PGOPTIONS");
    std::string options = existing != nullptr ? std::string(existing) + " " : "";
    options += "-c idle_in_transaction_session_timeout=" +
               std::to_string(std::chrono::milliseconds(config->lease).count());
    setenv("PGOPTIONS", options.c_str(), 1);
  }

  auto input_root = batchscribe::storage::InputRoot::Open(config->input_root);
  if (!input_root.ok()) {
    log::Error("invalid --input_root", {{"error", std::string(input_root.status().message())}});
    return 2;
  }

  // SIGTERM/SIGINT are handled by a thread (sigwait), so block them first in
  // every thread that follows.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  batchscribe::metrics::MetricsOptions metrics_options;
  metrics_options.port = flags.metrics_port;
  metrics_options.service = "worker";
  auto metrics = batchscribe::metrics::Metrics::Start(metrics_options);
  if (!metrics.ok()) {
    log::Error("metrics endpoint failed", {{"error", std::string(metrics.status().message())}});
    return 1;
  }

  // Health probes answer from the start: live while migrations wait for the
  // database, ready once the worker claims and the database answers.
  std::atomic<batchscribe::worker::Worker*> running_worker{nullptr};
  batchscribe::worker::DatabaseProbe database_probe(config->database_url);
  std::unique_ptr<batchscribe::worker::HealthServer> health_server;
  if (flags.health_port > 0) {
    auto started = batchscribe::worker::HealthServer::Start(
        "0.0.0.0", flags.health_port,
        [&running_worker]() -> batchscribe::worker::HealthReport {
          batchscribe::worker::Worker* w = running_worker.load();
          if (w == nullptr) return {true, {{"status", "starting"}}};
          return w->health().Liveness();
        },
        [&running_worker, &database_probe]() -> batchscribe::worker::HealthReport {
          batchscribe::worker::HealthReport db = database_probe.Check();
          batchscribe::worker::Worker* w = running_worker.load();
          const char* state = w == nullptr ? "starting" : w->draining() ? "draining" : "claiming";
          db.details["worker"] = state;
          db.ok = db.ok && w != nullptr && !w->draining();
          return db;
        });
    if (!started.ok()) {
      log::Error("health endpoint failed", {{"error", std::string(started.status().message())}});
      return 1;
    }
    health_server = *std::move(started);
  }

  // The schema may not exist yet when workers start before the coordinator.
  for (int attempt = 0;; ++attempt) {
    auto applied = batchscribe::db::ApplyMigrations(config->database_url);
    if (applied.ok()) break;
    if (attempt >= 60) {
      log::Error("database unavailable", {{"error", std::string(applied.status().message())}});
      return 1;
    }
    if (attempt == 0) {
      log::Warn("waiting for the database", {{"error", std::string(applied.status().message())}});
    }
    // Wait a second, but a SIGTERM (blocked above) ends the wait and the process.
    struct timespec second = {1, 0};
    siginfo_t info;
    if (sigtimedwait(&signals, &info, &second) > 0) {
      log::Info("signal received while waiting for the database: exiting",
                {{"signal", info.si_signo}});
      return 0;
    }
  }

  batchscribe::openai::ClientOptions client_options;
  client_options.base_url = config->openai_base_url;
  client_options.api_key = config->openai_api_key;
  client_options.max_retries = config->openai_max_retries;
  batchscribe::metrics::Metrics* m = metrics->get();
  client_options.on_response = [m](std::string_view method, std::string_view path, int status,
                                   int64_t sent, int64_t received) {
    m->OpenAiRequest(batchscribe::metrics::OpenAiEndpoint(method, path), status);
    if (sent > 0) m->BytesUploaded(sent);
    if (received > 0) m->BytesDownloaded(received);
  };
  auto factory =
      [client_options](
          std::function<bool()> aborted) -> std::unique_ptr<batchscribe::openai::OpenAiClient> {
    batchscribe::openai::ClientOptions options = client_options;
    options.aborted = std::move(aborted);
    return std::make_unique<batchscribe::openai::CurlOpenAiClient>(std::move(options));
  };

  batchscribe::queue::SystemClock clock;
  const auto drain = config->drain_timeout;
  batchscribe::worker::Worker worker(*std::move(config), *std::move(input_root), factory, **metrics,
                                     clock);
  worker.Start();
  running_worker = &worker;

  int received = 0;
  sigwait(&signals, &received);
  log::Info("signal received: draining", {{"signal", received}, {"drain_seconds", drain.count()}});
  worker.Drain();
  // A second signal or the end of the drain period stops the stragglers.
  std::thread stopper([&] {
    struct timespec timeout;
    timeout.tv_sec = static_cast<time_t>(drain.count());
    timeout.tv_nsec = 0;
    siginfo_t info;
    sigtimedwait(&signals, &info, &timeout);
    worker.Stop();
  });
  worker.Join();
  running_worker = nullptr;
  health_server.reset();
  // Wake the stopper if it is still waiting.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  log::Info("worker stopped");
  return 0;
}

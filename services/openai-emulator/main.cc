// openai-emulator: an offline, OpenAI-compatible Files + Batches + Chat
// Completions server for development, tests, demos and load tests.
//
//   openai-emulator --listen 127.0.0.1:8080 --validate_ms 200 --finalize_ms 200
//
// Point any OpenAI SDK at http://127.0.0.1:8080/v1. Flags have EMULATOR_*
// environment fallbacks; see README.md.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "libs/common/logging.h"
#include "libs/common/secrets.h"
#include "services/openai-emulator/emulator.h"
#include "services/openai-emulator/http_api.h"

namespace {

using batchscribe::emulator::Json;

bool ParseTokenLimits(const std::string& text, std::map<std::string, int64_t>& out) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    try {
      size_t used = 0;
      const std::string number = item.substr(eq + 1);
      const long long value = std::stoll(number, &used);
      if (used != number.size() || value < 0) return false;
      out[item.substr(0, eq)] = value;
    } catch (const std::exception&) {
      return false;
    }
  }
  return true;
}

bool ParseListen(const std::string& listen, std::string& host, int& port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  try {
    size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    return used == listen.size() - colon - 1 && port >= 0 && port <= 65535 && !host.empty();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace emu = batchscribe::emulator;
  namespace log = batchscribe::log;

  CLI::App app{"openai-emulator: an offline OpenAI Files + Batches + Chat Completions server"};
  std::string listen = "127.0.0.1:8080";
  std::string api_key;
  std::string api_key_file;
  std::string state_dir;
  std::string faults;
  std::string token_limits;
  std::string port_file;
  std::string log_level = "info";
  int http_threads = 128;
  emu::EmulatorOptions options;
  auto& t = options.timings;
  auto& l = options.limits;

  app.add_option("--listen", listen, "HOST:PORT to serve on (port 0: any free port)")
      ->envname("EMULATOR_LISTEN")
      ->capture_default_str();
  app.add_option("--api_key", api_key, "Accept only this bearer token (default: any non-empty one)")
      ->envname("EMULATOR_API_KEY");
  app.add_option("--api_key_file", api_key_file, "Read the accepted bearer token from a file")
      ->envname("EMULATOR_API_KEY_FILE");
  app.add_option("--state_dir", state_dir,
                 "Keep files, batches, stats and faults here across restarts "
                 "(default: in memory, files in a private temporary folder)")
      ->envname("EMULATOR_STATE_DIR");
  app.add_option("--validate_ms", t.validate_ms, "Time in 'validating'")
      ->envname("EMULATOR_VALIDATE_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--in_progress_ms", t.in_progress_ms, "Minimum time in 'in_progress'")
      ->envname("EMULATOR_IN_PROGRESS_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--line_ms", t.line_ms, "Time per request line in 'in_progress'")
      ->envname("EMULATOR_LINE_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--finalize_ms", t.finalize_ms, "Time in 'finalizing'")
      ->envname("EMULATOR_FINALIZE_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--cancel_ms", t.cancel_ms, "Time in 'cancelling'")
      ->envname("EMULATOR_CANCEL_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--expire_after_ms", t.expire_after_ms,
                 "Completion window: unfinished batches expire this long after creation")
      ->envname("EMULATOR_EXPIRE_AFTER_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--enqueued_token_limit", token_limits,
                 "Per-model enqueued input-token limits, e.g. 'gpt-4.1-mini=2000000,*=90000'")
      ->envname("EMULATOR_ENQUEUED_TOKEN_LIMIT");
  app.add_option("--max_requests_per_batch", l.max_requests_per_batch, "Lines per batch")
      ->envname("EMULATOR_MAX_REQUESTS_PER_BATCH")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max_batch_file_bytes", l.max_batch_file_bytes, "Size limit of batch inputs")
      ->envname("EMULATOR_MAX_BATCH_FILE_BYTES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max_file_bytes", l.max_file_bytes, "Size limit of other uploads")
      ->envname("EMULATOR_MAX_FILE_BYTES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  // Defaults: https://platform.openai.com/docs/guides/pdf-files (options.h).
  app.add_option("--max_pdf_pages_per_request", l.pdf.max_pages,
                 "PDF pages per chat completion, over all its file parts (0: no limit)")
      ->envname("EMULATOR_MAX_PDF_PAGES_PER_REQUEST")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max_pdf_bytes_per_request", l.pdf.max_bytes,
                 "Decoded file bytes per chat completion, over all its file parts (0: no limit)")
      ->envname("EMULATOR_MAX_PDF_BYTES_PER_REQUEST")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--faults", faults,
                 "Fault rules as JSON, or @FILE (the body of POST /_emulator/faults)")
      ->envname("EMULATOR_FAULTS");
  app.add_option("--seed", options.seed, "Seeds output shuffling and fault probabilities")
      ->envname("EMULATOR_SEED")
      ->capture_default_str();
  app.add_option("--exec_threads", options.exec_threads, "Threads executing batch lines")
      ->envname("EMULATOR_EXEC_THREADS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--http_threads", http_threads, "HTTP request threads")
      ->envname("EMULATOR_HTTP_THREADS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--port_file", port_file, "Write the bound port to this file once listening")
      ->envname("EMULATOR_PORT_FILE");
  app.add_option("--log_level", log_level, "debug, info, warn or error")
      ->envname("EMULATOR_LOG_LEVEL")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  log::Init("openai-emulator", log_level);
  if (!api_key.empty()) {
    log::RegisterSecret(api_key);
  } else if (!api_key_file.empty()) {
    auto secret = batchscribe::ReadSecret(api_key_file, "EMULATOR_API_KEY");
    if (!secret.ok()) {
      log::Error("reading --api_key_file failed",
                 {{"error", std::string(secret.status().message())}});
      return 2;
    }
    api_key = *secret;
  }
  options.state_dir = state_dir;
  if (!ParseTokenLimits(token_limits, options.limits.enqueued_token_limits)) {
    log::Error("--enqueued_token_limit must look like 'model=tokens,*=tokens'");
    return 2;
  }
  std::string host;
  int port = 0;
  if (!ParseListen(listen, host, port)) {
    log::Error("--listen must be HOST:PORT", {{"listen", listen}});
    return 2;
  }

  // Signals are taken by a dedicated thread; every other thread blocks them.
  // SIGPIPE is ignored: a client that hangs up must not end the process.
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  emu::SystemClock clock;
  auto emulator = emu::Emulator::Create(options, &clock);
  if (!emulator.ok()) {
    log::Error("starting the emulator failed",
               {{"error", std::string(emulator.status().message())}});
    return 1;
  }
  if (!faults.empty()) {
    std::string text = faults;
    if (text[0] == '@') {
      std::ifstream in(text.substr(1));
      if (!in) {
        log::Error("cannot read --faults file", {{"path", text.substr(1)}});
        return 2;
      }
      std::stringstream buffer;
      buffer << in.rdbuf();
      text = buffer.str();
    }
    Json config = emu::ParseJson(text);
    if (config.is_discarded()) {
      log::Error("--faults is not valid JSON");
      return 2;
    }
    if (auto s = (*emulator)->faults().Configure(config); !s.ok()) {
      log::Error("--faults rejected", {{"error", std::string(s.message())}});
      return 2;
    }
  }

  emu::ApiServer server(emulator->get(), emu::HttpOptions{api_key, http_threads});
  auto bound = server.Bind(host, port);
  if (!bound.ok()) {
    log::Error("binding failed", {{"error", std::string(bound.status().message())}});
    return 1;
  }
  (*emulator)->Start();
  if (!port_file.empty()) {
    std::ofstream(port_file) << *bound << "\n";
  }
  std::thread signal_waiter([&server, stop_signals] {
    int received = 0;
    sigwait(&stop_signals, &received);
    log::Info("stopping", {{"signal", received}});
    server.Stop();
  });
  log::Info("listening", {{"host", host},
                          {"port", *bound},
                          {"base_url", "http://" + host + ":" + std::to_string(*bound) + "/v1"},
                          {"persistent", !state_dir.empty()},
                          {"auth", api_key.empty() ? "any bearer token" : "api key"}});
  server.Serve();
  (*emulator)->Stop();
  // The waiter is still in sigwait when Serve() ended on its own.
  pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  log::Info("stopped");
  return 0;
}

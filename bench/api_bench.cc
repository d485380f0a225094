// gRPC client side of the API and end-to-end benchmarks, talking to a real
// batchscribe-coordinator:
//
//   bench-api submit --server H:P --count N [--directory docs] [--model M]
//       SubmitDocuments with N explicit documents <directory>/doc-000001.pdf ..
//       (one request); prints the batch name and how long the call took.
//   bench-api load --server H:P --batch NAME --rate R --seconds S [--threads T]
//       Open-loop load at R requests/s for S seconds, half GetBatch and half
//       ListDocuments (page_size 100) on pages spread over the whole batch;
//       prints p50/p90/p99 latency of each.
//   bench-api wait --server H:P --batch NAME [--timeout_s T]
//       Polls GetBatch until the batch ends; prints the document counts and
//       how long it took.
//
// Open loop: request k is sent at start + k/R whatever the previous ones did,
// so a slow server shows up as latency rather than as a lower request rate
// (no coordinated omission). Requests sent more than 10 ms after their slot,
// because every client thread was busy, are counted as `late`.

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "batchscribe/v1/batch_service.grpc.pb.h"
#include "bench/support/bench_support.h"

namespace batchscribe::bench {
namespace {

namespace v1 = ::batchscribe::v1;
using Clock = std::chrono::steady_clock;

std::unique_ptr<v1::BatchService::Stub> Connect(const std::string& server) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel =
      grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), std::move(args));
  channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return v1::BatchService::NewStub(channel);
}

void SetDeadline(grpc::ClientContext& ctx, std::chrono::seconds seconds) {
  ctx.set_deadline(std::chrono::system_clock::now() + seconds);
}

int Submit(const std::string& server, int count, const std::string& directory,
           const std::string& model) {
  auto stub = Connect(server);
  v1::SubmitDocumentsRequest request;
  request.set_model(model);
  request.set_display_name("bench");
  char path[256];
  for (int i = 1; i <= count; ++i) {
    std::snprintf(path, sizeof(path), "%s/doc-%06d.pdf", directory.c_str(), i);
    request.add_documents()->set_path(path);
  }
  v1::SubmitDocumentsResponse response;
  grpc::ClientContext ctx;
  SetDeadline(ctx, std::chrono::seconds(600));
  const auto start = Clock::now();
  grpc::Status status = stub->SubmitDocuments(&ctx, request, &response);
  const double seconds = SecondsSince(start);
  if (!status.ok()) {
    std::cerr << "SubmitDocuments: " << status.error_code() << " " << status.error_message()
              << "\n";
    return 1;
  }
  PrintResult({{"batch", response.batch().name()},
               {"documents", response.batch().counts().total()},
               {"request_bytes", request.ByteSizeLong()},
               {"seconds", seconds}});
  return 0;
}

// Page tokens of every page of the batch (page_size 100), walking it once.
std::vector<std::string> PageTokens(v1::BatchService::Stub& stub, const std::string& batch,
                                    LatencySamples& walk) {
  std::vector<std::string> tokens = {""};
  while (true) {
    v1::ListDocumentsRequest request;
    request.set_parent(batch);
    request.set_page_size(100);
    request.set_page_token(tokens.back());
    v1::ListDocumentsResponse response;
    grpc::ClientContext ctx;
    SetDeadline(ctx, std::chrono::seconds(30));
    const auto t0 = Clock::now();
    grpc::Status status = stub.ListDocuments(&ctx, request, &response);
    walk.Add(Clock::now() - t0);
    if (!status.ok()) {
      std::cerr << "ListDocuments walk: " << status.error_message() << "\n";
      break;
    }
    if (response.next_page_token().empty()) break;
    tokens.push_back(response.next_page_token());
  }
  return tokens;
}

int Load(const std::string& server, const std::string& batch, int rate, int seconds, int threads) {
  auto stub = Connect(server);
  LatencySamples walk;
  const std::vector<std::string> tokens = PageTokens(*stub, batch, walk);
  const int64_t total = static_cast<int64_t>(rate) * seconds;
  std::atomic<int64_t> next{0};
  std::atomic<int> errors{0}, late{0};
  std::mutex mu;
  std::string first_error;
  LatencySamples get_batch, list_documents;
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  const auto slot = std::chrono::nanoseconds(1'000'000'000LL / rate);

  auto client = [&](int index) {
    std::mt19937 rng(index);
    LatencySamples my_get, my_list;
    while (true) {
      const int64_t k = next.fetch_add(1);
      if (k >= total) break;
      const auto when = start + k * slot;
      std::this_thread::sleep_until(when);
      const auto sent = Clock::now();
      if (sent - when > std::chrono::milliseconds(10)) late.fetch_add(1);
      grpc::ClientContext ctx;
      SetDeadline(ctx, std::chrono::seconds(10));
      grpc::Status status;
      if (k % 2 == 0) {
        v1::GetBatchRequest request;
        request.set_name(batch);
        v1::GetBatchResponse response;
        status = stub->GetBatch(&ctx, request, &response);
        my_get.Add(Clock::now() - sent);
      } else {
        v1::ListDocumentsRequest request;
        request.set_parent(batch);
        request.set_page_size(100);
        request.set_page_token(tokens[rng() % tokens.size()]);
        v1::ListDocumentsResponse response;
        status = stub->ListDocuments(&ctx, request, &response);
        my_list.Add(Clock::now() - sent);
      }
      if (!status.ok()) {
        errors.fetch_add(1);
        std::lock_guard lock(mu);
        if (first_error.empty()) first_error = status.error_message();
      }
    }
    std::lock_guard lock(mu);
    get_batch.Merge(my_get);
    list_documents.Merge(my_list);
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(client, i);
  for (auto& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  PrintResult({{"rate", rate},
               {"achieved_rate", static_cast<double>(total) / elapsed},
               {"requests", total},
               {"errors", errors.load()},
               {"first_error", first_error},
               {"late", late.load()},
               {"pages", tokens.size()},
               {"unloaded_list_walk", walk.Summary()},
               {"get_batch", get_batch.Summary()},
               {"list_documents", list_documents.Summary()}});
  return errors.load() == 0 ? 0 : 1;
}

bool Ended(v1::BatchState state) {
  return state == v1::BATCH_STATE_SUCCEEDED || state == v1::BATCH_STATE_PARTIALLY_SUCCEEDED ||
         state == v1::BATCH_STATE_FAILED || state == v1::BATCH_STATE_CANCELLED;
}

int Wait(const std::string& server, const std::string& batch, int timeout_s) {
  auto stub = Connect(server);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(timeout_s);
  v1::GetBatchResponse response;
  while (Clock::now() < deadline) {
    v1::GetBatchRequest request;
    request.set_name(batch);
    grpc::ClientContext ctx;
    SetDeadline(ctx, std::chrono::seconds(30));
    response.Clear();
    grpc::Status status = stub->GetBatch(&ctx, request, &response);
    if (status.ok() && Ended(response.batch().state())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto& counts = response.batch().counts();
  PrintResult({{"batch", batch},
               {"state", v1::BatchState_Name(response.batch().state())},
               {"ended", Ended(response.batch().state())},
               {"seconds", SecondsSince(start)},
               {"total", counts.total()},
               {"succeeded", counts.succeeded()},
               {"failed", counts.failed()},
               {"skipped", counts.skipped()},
               {"shards", response.batch().shards_size()}});
  return Ended(response.batch().state()) ? 0 : 1;
}

}  // namespace
}  // namespace batchscribe::bench

int main(int argc, char** argv) {
  CLI::App app{"gRPC load client for the coordinator benchmarks"};
  app.require_subcommand(1);
  std::string server = "127.0.0.1:50051", directory = "docs", model = "gpt-4.1-mini", batch;
  int count = 1000, rate = 500, seconds = 10, threads = 32, timeout_s = 3600;
  auto* submit = app.add_subcommand("submit", "SubmitDocuments with explicit documents");
  submit->add_option("--server", server);
  submit->add_option("--count", count)->required();
  submit->add_option("--directory", directory, "folder of the PDFs, relative to the input root");
  submit->add_option("--model", model);
  auto* load = app.add_subcommand("load", "GetBatch + ListDocuments at a fixed rate");
  load->add_option("--server", server);
  load->add_option("--batch", batch, "batches/<id>")->required();
  load->add_option("--rate", rate, "requests per second");
  load->add_option("--seconds", seconds);
  load->add_option("--threads", threads, "client threads (requests in flight at most)");
  auto* wait = app.add_subcommand("wait", "poll GetBatch until the batch ends");
  wait->add_option("--server", server);
  wait->add_option("--batch", batch)->required();
  wait->add_option("--timeout_s", timeout_s);
  CLI11_PARSE(app, argc, argv);
  using namespace batchscribe::bench;
  if (*submit) return Submit(server, count, directory, model);
  if (*load) return Load(server, batch, rate, seconds, threads);
  return Wait(server, batch, timeout_s);
}

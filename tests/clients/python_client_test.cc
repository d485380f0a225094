// Proves that other services can use the API: Python stubs generated at test
// time call the running coordinator, with a bearer token, from Debian's
// /usr/bin/python3 and python3-grpcio (not whatever python3 is first on PATH).
//
// The stubs come from Debian's protoc (3.21, which matches python3-protobuf
// 4.21) with grpc_python_plugin (protobuf-compiler-grpc, matching
// python3-grpcio 1.51). `python3 -m grpc_tools.protoc` from Debian's
// python3-grpc-tools bundles protoc 3.5.1, which rejects proto3 `optional`
// fields and emits code the 4.21 runtime refuses to load.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/clients/command.h"
#include "tests/coordinator/coordinator_process.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {
namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";

constexpr const char* kClient = R"PY(
import json
import sys

import grpc

sys.path.insert(0, sys.argv[1])
from batchscribe.v1 import batch_service_pb2 as pb
from batchscribe.v1 import batch_service_pb2_grpc as rpc
from grpc_health_v1 import health_pb2, health_pb2_grpc

target, token = sys.argv[2], sys.argv[3]
channel = grpc.insecure_channel(target)
stub = rpc.BatchServiceStub(channel)
auth = [("authorization", "Bearer " + token)]
out = {}

health = health_pb2_grpc.HealthStub(channel)
status = health.Check(health_pb2.HealthCheckRequest(), timeout=30).status
out["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(status)

try:
    stub.ListBatches(pb.ListBatchesRequest(), timeout=30)
    out["without_token"] = "OK"
except grpc.RpcError as e:
    out["without_token"] = e.code().name

request = pb.SubmitDocumentsRequest(
    request_id="python-1",
    source=pb.DirectorySource(glob="*.pdf"),
    labels={"client": "python"},
    display_name="from python")
first = stub.SubmitDocuments(request, metadata=auth, timeout=60)
again = stub.SubmitDocuments(request, metadata=auth, timeout=60)
out["name"] = first.batch.name
out["total"] = first.batch.counts.total
out["replayed"] = [first.replayed, again.replayed]
out["same_batch"] = first.batch.name == again.batch.name

got = stub.GetBatch(pb.GetBatchRequest(name=first.batch.name), metadata=auth, timeout=30)
out["state"] = pb.BatchState.Name(got.batch.state)
out["labels"] = dict(got.batch.labels)

ids, token_ = [], ""
while True:
    page = stub.ListDocuments(
        pb.ListDocumentsRequest(parent=first.batch.name, page_size=2, page_token=token_),
        metadata=auth, timeout=30)
    ids += [d.document_id for d in page.documents]
    token_ = page.next_page_token
    if not token_:
        break
out["document_ids"] = ids

stream = stub.WatchBatch(pb.WatchBatchRequest(name=first.batch.name), metadata=auth, timeout=60)
out["watch_first"] = pb.BatchState.Name(next(stream).batch.state)
stream.cancel()

cancelled = stub.CancelBatch(pb.CancelBatchRequest(name=first.batch.name), metadata=auth,
                             timeout=30)
out["cancelled"] = pb.BatchState.Name(cancelled.batch.state)

try:
    stub.GetBatch(pb.GetBatchRequest(name="batches/missing"), metadata=auth, timeout=30)
except grpc.RpcError as e:
    out["missing"] = e.code().name

print("RESULT " + json.dumps(out))
)PY";

TEST(PythonClient, CallsTheCoordinatorThroughGeneratedStubs) {
  TestDatabase db;
  TempDir dir;
  fs::path inputs = dir.path() / "inputs";
  fs::create_directories(dir.path() / "store");
  for (const char* name : {"one.pdf", "two.pdf", "three.pdf"}) {
    WriteMinimalPdf(inputs / name, name);
  }
  std::ofstream(dir.path() / "tokens") << "python-client-token\n";

  fs::path stubs = dir.path() / "stubs";
  fs::create_directories(stubs);
  // health.proto's own path (grpc/health/v1) would shadow grpcio's `grpc`
  // package in Python: compile a copy under another path (the service name on
  // the wire comes from its proto package and does not change).
  fs::path health_src = dir.path() / "health_src" / "grpc_health_v1";
  fs::create_directories(health_src);
  fs::copy_file("/usr/share/grpc-proto/grpc/health/v1/health.proto", health_src / "health.proto");
  CommandResult protoc = RunCommand(
      {"/usr/bin/protoc", "-I" + (SourceDir() / "proto").string(),
       "-I" + (dir.path() / "health_src").string(), "--python_out=" + stubs.string(),
       "--grpc_out=" + stubs.string(), "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
       "batchscribe/v1/batch_service.proto", "grpc_health_v1/health.proto"},
      dir.path());
  ASSERT_EQ(protoc.exit_code, 0) << protoc.output;
  ASSERT_TRUE(fs::exists(stubs / "batchscribe" / "v1" / "batch_service_pb2_grpc.py"));

  CoordinatorProcess coordinator(
      CoordinatorOptions{.database_url = db.url(),
                         .input_root = inputs,
                         .storage_root = dir.path() / "store",
                         .log_dir = dir.path(),
                         .extra_args = {"--auth_token_file", (dir.path() / "tokens").string()}});
  ASSERT_TRUE(coordinator.WaitServing()) << coordinator.process().Log();

  fs::path script = dir.path() / "client.py";
  std::ofstream(script) << kClient;
  CommandResult run = RunCommand(
      {kPython, script.string(), stubs.string(), coordinator.address(), "python-client-token"},
      dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto line = run.output.find("RESULT ");
  ASSERT_NE(line, std::string::npos) << run.output;
  nlohmann::json out =
      nlohmann::json::parse(run.output.substr(line + 7, run.output.find('\n', line) - line - 7));

  EXPECT_EQ(out["health"], "SERVING");
  EXPECT_EQ(out["without_token"], "UNAUTHENTICATED");
  EXPECT_EQ(out["total"], 3);
  EXPECT_EQ(out["replayed"], nlohmann::json::array({false, true}));
  EXPECT_EQ(out["same_batch"], true);
  EXPECT_EQ(out["state"], "BATCH_STATE_PENDING");
  EXPECT_EQ(out["labels"]["client"], "python");
  EXPECT_EQ(out["document_ids"], nlohmann::json::array({"one", "three", "two"}));
  EXPECT_EQ(out["watch_first"], "BATCH_STATE_PENDING");
  EXPECT_EQ(out["cancelled"], "BATCH_STATE_CANCELLED");
  EXPECT_EQ(out["missing"], "NOT_FOUND");
}

}  // namespace
}  // namespace batchscribe::testing

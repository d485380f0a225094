// Every kind of response the emulator sends, validated against the official
// OpenAPI schemas (converted to JSON Schema at test time by
// validate_against_spec.py with python3-yaml and python3-jsonschema).

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include "tests/emulator/harness.h"

namespace batchscribe::emulator {
namespace {

using batchscribe::testing::SourceDir;
using batchscribe::testing::Subprocess;
using batchscribe::testing::TempDir;
using testing::CreateBatch;
using testing::EmulatorProcess;
using testing::FileContent;
using testing::GetJson;
using testing::MakePdf;
using testing::ParseLines;
using testing::PostJson;
using testing::RequestLine;
using testing::TranscriptRequest;
using testing::UploadJsonl;
using testing::WaitForBatch;

TEST(SpecShapesTest, ResponsesMatchTheOfficialSchemas) {
  EmulatorProcess emulator({{"--line_ms", "150"}});
  auto client = emulator.Client();
  Json samples = Json::object();
  auto add = [&](const std::string& schema, const Json& value) {
    ASSERT_FALSE(value.is_null()) << schema;
    samples[schema].push_back(value);
  };
  auto add_error = [&](const httplib::Result& res) {
    ASSERT_TRUE(res);
    add("ErrorResponse", ParseJson(res->body));
  };

  std::string lines;
  for (int i = 0; i < 3; ++i) {
    lines += RequestLine("doc-" + std::to_string(i),
                         TranscriptRequest(MakePdf({"Spec page " + std::to_string(i)}))) +
             "\n";
  }
  httplib::MultipartFormDataItems items = {{"purpose", "batch", "", ""},
                                           {"file", lines, "input.jsonl", "application/jsonl"}};
  auto upload = client->Post("/v1/files", items);
  ASSERT_TRUE(upload);
  const Json file = ParseJson(upload->body);
  add("OpenAIFile", file);
  const std::string file_id = file["id"];
  add("OpenAIFile", GetJson(*client, "/v1/files/" + file_id));
  add("ListFilesResponse", GetJson(*client, "/v1/files"));
  add("ListFilesResponse", GetJson(*client, "/v1/files?purpose=vision"));

  ASSERT_EQ(PostJson(*client, "/_emulator/faults", ParseJson(R"({
      "lines": [{"custom_id": "^doc-1$", "kind": "server_error"}],
      "batches": [{"kind": "stuck_finalizing", "ms": 60000, "metadata": {"k": "^stuck$"}},
                  {"kind": "expire", "after_lines": 1, "metadata": {"k": "^expire$"}}]})"))
                .is_object(),
            true);

  // validating, in_progress, completed (with output and error files).
  Json batch = CreateBatch(*client, file_id, {{"k", "done"}});
  add("Batch", batch);
  add("Batch", WaitForBatch(*client, batch["id"], {"in_progress"}));
  Json completed = WaitForBatch(*client, batch["id"], {"completed"});
  add("Batch", completed);
  add("OpenAIFile",
      GetJson(*client, "/v1/files/" + completed["output_file_id"].get<std::string>()));
  for (const auto& line : ParseLines(FileContent(*client, completed["output_file_id"]))) {
    add("BatchRequestOutput", line);
    add("CreateChatCompletionResponse", line["response"]["body"]);
  }
  for (const auto& line : ParseLines(FileContent(*client, completed["error_file_id"]))) {
    add("BatchRequestOutput", line);
  }
  // finalizing.
  Json stuck = CreateBatch(*client, file_id, {{"k", "stuck"}});
  add("Batch", WaitForBatch(*client, stuck["id"], {"finalizing"}));
  // cancelling, cancelled.
  auto cancel = client->Post("/v1/batches/" + stuck["id"].get<std::string>() + "/cancel");
  ASSERT_TRUE(cancel);
  add("Batch", ParseJson(cancel->body));
  add("Batch", WaitForBatch(*client, stuck["id"], {"cancelled"}));
  // expired, with batch_expired lines.
  Json expired =
      WaitForBatch(*client, CreateBatch(*client, file_id, {{"k", "expire"}})["id"], {"expired"});
  add("Batch", expired);
  for (const auto& line : ParseLines(FileContent(*client, expired["error_file_id"]))) {
    add("BatchRequestOutput", line);
  }
  // failed, with errors.
  const std::string bad_file = UploadJsonl(*client, "{oops\n");
  add("Batch", WaitForBatch(*client, CreateBatch(*client, bad_file)["id"], {"failed"}));
  add("ListBatchesResponse", GetJson(*client, "/v1/batches?limit=2"));
  add("ListBatchesResponse", GetJson(*client, "/v1/batches"));

  add("CreateChatCompletionResponse",
      PostJson(*client, "/v1/chat/completions", TranscriptRequest(MakePdf({"sync"}))));
  auto deleted = client->Delete("/v1/files/" + bad_file);
  ASSERT_TRUE(deleted);
  add("DeleteFileResponse", ParseJson(deleted->body));

  httplib::Client anonymous("127.0.0.1", emulator.port());
  add_error(anonymous.Get("/v1/files"));
  add_error(client->Get("/v1/batches/batch_unknown"));
  add_error(client->Post("/v1/batches", "{}", "application/json"));
  add_error(client->Post("/v1/chat/completions", "{", "application/json"));
  PostJson(*client, "/_emulator/faults",
           ParseJson(R"({"http": [{"status": 429, "count": 1}, {"status": 503, "count": 1}]})"));
  add_error(client->Get("/v1/files"));
  add_error(client->Get("/v1/files"));

  // Proof that the check can fail: shapes the schemas reject.
  samples["_must_fail"] = {
      {"Batch", Json::array({Json{{"id", "batch_x"}, {"object", "batch"}},
                             Json{{"id", "batch_x"},
                                  {"object", "batch"},
                                  {"endpoint", "/v1/chat/completions"},
                                  {"input_file_id", "file-x"},
                                  {"completion_window", "24h"},
                                  {"status", "done"},
                                  {"created_at", 1}}})},
      {"ErrorResponse", Json::array({Json{{"error", {{"message", "no type"}}}}})},
      {"OpenAIFile", Json::array({Json{{"id", "file-x"}, {"object", "file"}, {"bytes", "7"}}})},
  };

  TempDir dir;
  const auto samples_path = dir.path() / "samples.json";
  std::ofstream(samples_path) << samples.dump(1);
  // The full official spec when it is checked out next to the repository,
  // else the vendored extract of the components used here.
  std::filesystem::path spec = SourceDir() / "../shared/openai-openapi/openapi.yaml";
  if (!std::filesystem::exists(spec))
    spec = SourceDir() / "tests/emulator/spec/openapi-subset.yaml";
  Subprocess validator(
      {"/usr/bin/python3", (SourceDir() / "tests/emulator/validate_against_spec.py").string(),
       spec.string(), (SourceDir() / "tests/emulator/spec/batch-line-schemas.yaml").string(),
       samples_path.string()},
      dir.path() / "validator.log");
  const int status = validator.Wait(120000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << validator.Log();
  EXPECT_NE(validator.Log().find("0 problems"), std::string::npos) << validator.Log();
}

}  // namespace
}  // namespace batchscribe::emulator

// The official OpenAI JavaScript SDK (tools/node_modules/openai) drives a
// whole batch against the emulator: proof that real clients work unchanged.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/emulator/harness.h"

namespace batchscribe::emulator {
namespace {

namespace fs = std::filesystem;
using batchscribe::testing::SourceDir;
using batchscribe::testing::Subprocess;
using batchscribe::testing::TempDir;
using testing::EmulatorProcess;
using testing::MakePdf;

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/usr/local/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path candidate = fs::path(dir) / name;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

TEST(OfficialSdkTest, DrivesAWholeBatch) {
  const std::string node = FindOnPath("node");
  ASSERT_FALSE(node.empty()) << "node is not installed: run scripts/bootstrap.sh";
  const fs::path tools = SourceDir() / "tools";
  ASSERT_TRUE(fs::exists(tools / "node_modules/openai/package.json"))
      << "the OpenAI SDK is missing: run scripts/bootstrap.sh (npm install in tools/)";

  EmulatorProcess emulator({{"--api_key", "sk-sdk-key"}, {"--line_ms", "100"}});
  TempDir work;
  std::ofstream(work.path() / "doc.pdf", std::ios::binary)
      << MakePdf({"SDK page one", "SDK page two"});
  fs::copy_file(SourceDir() / "config/transcript.schema.json",
                work.path() / "transcript.schema.json");

  Subprocess script({node, (SourceDir() / "tests/emulator/sdk_batch.mjs").string()},
                    work.path() / "node.log",
                    {{"EMULATOR_BASE_URL", emulator.base_url()},
                     {"EMULATOR_API_KEY", "sk-sdk-key"},
                     {"OPENAI_SDK_DIR", tools.string()},
                     {"NODE_PATH", (tools / "node_modules").string()},
                     {"SDK_WORK_DIR", work.path().string()}});
  const int status = script.Wait(90000);
  if (status == -1) script.Kill();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "node output:\n"
                                                             << script.Log() << "\nemulator log:\n"
                                                             << emulator.Log();
  EXPECT_NE(script.Log().find("whole batch driven through the official OpenAI SDK"),
            std::string::npos);
}

}  // namespace
}  // namespace batchscribe::emulator

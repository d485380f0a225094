#include "tests/clients/command.h"

#include <sys/wait.h>

#include <atomic>

#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {

CommandResult RunCommand(const std::vector<std::string>& argv, const std::filesystem::path& log_dir,
                         int timeout_ms) {
  static std::atomic<int> counter{0};
  std::filesystem::path log = log_dir / ("command-" + std::to_string(counter++) + ".log");
  Subprocess process(argv, log);
  int status = process.Wait(timeout_ms);
  CommandResult result;
  if (status == -1) {
    process.Kill();
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  result.output = process.Log();
  return result;
}

std::filesystem::path BufBinary() {
  return SourceDir() / "tools" / "node_modules" / ".bin" / "buf";
}

}  // namespace batchscribe::testing

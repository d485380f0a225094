#pragma once
// Runs an external command to completion for the client tests.

#include <filesystem>
#include <string>
#include <vector>

namespace batchscribe::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when it did not exit normally in time
  std::string output;  // stdout and stderr together
};

/// Runs `argv` (argv[0] an absolute path) with its output in a file under
/// `log_dir`, waiting up to `timeout_ms`.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::filesystem::path& log_dir,
                         int timeout_ms = 120000);

/// tools/node_modules/.bin/buf
std::filesystem::path BufBinary();

}  // namespace batchscribe::testing

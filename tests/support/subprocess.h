#pragma once
// Real child processes for end-to-end tests: started with fork/exec, output to a
// log file, stopped with a signal.

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace batchscribe::testing {

class Subprocess {
 public:
  /// Starts `argv[0]` with `argv`, extra environment `env` (added to ours),
  /// stdout and stderr appended to `log_path`.
  Subprocess(std::vector<std::string> argv, const std::filesystem::path& log_path,
             std::map<std::string, std::string> env = {});
  /// Sends SIGTERM and waits (SIGKILL after 10 s) unless already stopped.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  /// Sends `signal`; does not wait.
  void Signal(int signal);
  /// Sends SIGTERM, waits up to `timeout_ms`, then SIGKILL. Returns the exit status
  /// as from waitpid.
  int Stop(int timeout_ms = 10000);
  /// SIGKILL and reap.
  void Kill();
  /// Waits for exit up to `timeout_ms`; returns -1 on timeout, else waitpid status.
  int Wait(int timeout_ms);
  const std::filesystem::path& log_path() const { return log_path_; }
  /// The whole log so far.
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::filesystem::path log_path_;
};

}  // namespace batchscribe::testing

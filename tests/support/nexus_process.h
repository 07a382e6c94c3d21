// File: tests/support/nexus_process.h
//
// Black-box test helpers that run the real `nexus` binary (path baked in as NEXUS_BINARY):
// one-shot commands (`init`, `token create`) and a server started on a free port (`serve --port
// 0`, the port read from its "nexus listening on" line). Each server's stderr (its JSON log)
// goes to a file in the test's temp dir so a test can assert on log lines.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace nexus::testing {

// A fresh directory under $TMPDIR removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  std::string out;
  std::string err;
};

// Runs `nexus args...` to completion (killed after 60 s). `env` entries are "NAME=value" added to
// the current environment.
CommandResult RunNexus(const std::vector<std::string>& args,
                       const std::vector<std::string>& env = {});

// `nexus init --json` with `args` added; fails the test (and returns null) if it does not
// succeed.
nlohmann::json InitWorkspace(const std::string& db_url, const std::vector<std::string>& args = {});

class NexusServer {
 public:
  // Starts `nexus serve --db db_url --port 0 extra_args...` and waits (≤ 30 s) for it to listen.
  // Returns null (after recording a test failure) if it does not.
  // `env` entries ("NAME=value") are added to the server's environment.
  static std::unique_ptr<NexusServer> Start(const std::string& db_url,
                                            const std::vector<std::string>& extra_args = {},
                                            const std::vector<std::string>& env = {});
  // True once the process has exited (reaped); its exit code, or -1 for a signal, in *code.
  bool HasExited(int* code = nullptr);
  ~NexusServer();  // SIGKILL if still running

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits up to `timeout_seconds`; the exit code, or -1 if it had to be killed.
  int Terminate(int timeout_seconds = 30);
  void Kill();
  // Everything the server wrote to stderr so far.
  std::string Log() const;
  // Waits up to `timeout_ms` for `needle` to appear in the log (a request's log line is written
  // just after its response, so a test may read the log before it lands). The log either way.
  std::string WaitForLog(std::string_view needle, int timeout_ms = 3000) const;

 private:
  NexusServer() = default;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string log_path_;
  std::unique_ptr<TempDir> dir_;
};

}  // namespace nexus::testing

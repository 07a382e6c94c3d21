#include "support/nexus_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace nexus::testing {
namespace {

std::vector<std::string> Environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Spawns NEXUS_BINARY with stdout → `out_fd` and stderr → `err_fd`.
pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& env_extra,
            int out_fd, int err_fd) {
  std::vector<std::string> argv_strings = {NEXUS_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = Environment(env_extra);
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env_strings);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, NEXUS_BINARY, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Waits for `pid` up to `timeout`; its exit code, or -1 (signal) / -2 (still running).
int WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (done < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/nexus-test-XXXXXX";
  char* made = mkdtemp(pattern.data());
  path_ = made != nullptr ? made : "";
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

CommandResult RunNexus(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  TempDir dir;
  const std::string out_path = dir.path() + "/out";
  const std::string err_path = dir.path() + "/err";
  const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CommandResult result;
  const pid_t pid = Spawn(args, env, out_fd, err_fd);
  close(out_fd);
  close(err_fd);
  if (pid < 0) {
    ADD_FAILURE() << "cannot spawn " << NEXUS_BINARY;
    return result;
  }
  result.exit_code = WaitFor(pid, std::chrono::seconds(60));
  if (result.exit_code == -2) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    result.exit_code = -1;
  }
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

nlohmann::json InitWorkspace(const std::string& db_url, const std::vector<std::string>& args) {
  std::vector<std::string> full = {"init", "--json", "--db", db_url};
  full.insert(full.end(), args.begin(), args.end());
  const CommandResult result = RunNexus(full);
  if (result.exit_code != 0) {
    ADD_FAILURE() << "nexus init failed: " << result.err;
    return nullptr;
  }
  nlohmann::json parsed = nlohmann::json::parse(result.out, nullptr, false);
  if (parsed.is_discarded()) {
    ADD_FAILURE() << "nexus init --json printed no JSON: " << result.out;
    return nullptr;
  }
  return parsed;
}

std::unique_ptr<NexusServer> NexusServer::Start(const std::string& db_url,
                                                const std::vector<std::string>& extra_args,
                                                const std::vector<std::string>& env) {
  std::unique_ptr<NexusServer> server(new NexusServer());
  server->dir_ = std::make_unique<TempDir>();
  server->log_path_ = server->dir_->path() + "/server.log";
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return nullptr;
  }
  const int err_fd =
      open(server->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::vector<std::string> args = {"serve", "--db", db_url, "--port", "0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  server->pid_ = Spawn(args, env, pipe_fds[1], err_fd);
  close(pipe_fds[1]);
  close(err_fd);
  if (server->pid_ < 0) {
    close(pipe_fds[0]);
    ADD_FAILURE() << "cannot spawn " << NEXUS_BINARY;
    return nullptr;
  }
  // Read stdout until the "listening" line names the port.
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{pipe_fds[0], POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    char buffer[512];
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
    const size_t at = out.find("nexus listening on http://");
    const size_t eol = at == std::string::npos ? std::string::npos : out.find('\n', at);
    if (eol != std::string::npos) {
      const std::string line = out.substr(at, eol - at);
      server->port_ = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
      break;
    }
  }
  close(pipe_fds[0]);
  if (server->port_ == 0) {
    ADD_FAILURE() << "nexus serve did not start. stdout: " << out << "\nlog: " << server->Log();
    return nullptr;
  }
  return server;
}

NexusServer::~NexusServer() { Kill(); }

bool NexusServer::HasExited(int* code) {
  if (pid_ <= 0) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
  if (code != nullptr) *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  pid_ = -1;
  return true;
}

int NexusServer::Terminate(int timeout_seconds) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int code = WaitFor(pid_, std::chrono::seconds(timeout_seconds));
  if (code == -2) {
    Kill();
    return -1;
  }
  pid_ = -1;
  return code;
}

void NexusServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string NexusServer::Log() const { return ReadFile(log_path_); }

std::string NexusServer::WaitForLog(std::string_view needle, int timeout_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string log = Log();
  while (log.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log = Log();
  }
  return log;
}

}  // namespace nexus::testing

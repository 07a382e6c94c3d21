// File: ingest/xls_reader.cc
//
// The parent side of XLS reading: spawn the helper, read frames, apply the TableReader contract.
// See xls_reader.h.
#include "ingest/xls_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"
#include "ingest/text_encoding.h"
#include "ingest/xls_child.h"
#include "ingest/xls_protocol.h"

extern char** environ;

namespace nexus::ingest {
namespace {

namespace proto = xls_protocol;
using Clock = std::chrono::steady_clock;

constexpr unsigned char kOle2Magic[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};
constexpr size_t kBufferSize = 64 * 1024;

bool IsAsciiSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool IsBlank(std::string_view text) {
  for (const char c : text) {
    if (!IsAsciiSpace(c)) return false;
  }
  return true;
}

absl::Status ErrnoStatus(int error, std::string_view what) {
  const std::string message = fmt::format("{}: {}", what, std::strerror(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status Corrupt(std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("corrupt or unreadable XLS file ({})", why));
}

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }

  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// posix_spawn attributes and file actions, destroyed on scope exit.
class SpawnSetup {
 public:
  SpawnSetup() {
    attr_ok_ = ::posix_spawnattr_init(&attr_) == 0;
    actions_ok_ = ::posix_spawn_file_actions_init(&actions_) == 0;
  }
  ~SpawnSetup() {
    if (attr_ok_) ::posix_spawnattr_destroy(&attr_);
    if (actions_ok_) ::posix_spawn_file_actions_destroy(&actions_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  bool ok() const { return attr_ok_ && actions_ok_; }
  posix_spawnattr_t* attr() { return &attr_; }
  posix_spawn_file_actions_t* actions() { return &actions_; }

 private:
  posix_spawnattr_t attr_;
  posix_spawn_file_actions_t actions_;
  bool attr_ok_ = false;
  bool actions_ok_ = false;
};

std::string DescribeWaitStatus(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    if (sig == SIGXCPU) return "parser exceeded its CPU time limit (SIGXCPU)";
    if (sig == SIGKILL) return "parser killed by SIGKILL (CPU time limit?)";
    return fmt::format("parser crashed with signal {} (SIG{})", sig, name ? name : "?");
  }
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == kXlsExitOutOfMemory) return "parser ran out of memory";
    return fmt::format("parser exited with status {}", code);
  }
  return fmt::format("parser stopped with wait status {}", status);
}

class XlsReader final : public TableReader {
 public:
  XlsReader(pid_t pid, UniqueFd pipe, const ReadLimits& limits, const XlsOptions& options)
      : pid_(pid),
        pipe_(std::move(pipe)),
        limits_(limits),
        options_(options),
        buffer_(new char[kBufferSize]) {}

  ~XlsReader() override { Reap(/*kill_first=*/true); }
  XlsReader(const XlsReader&) = delete;
  XlsReader& operator=(const XlsReader&) = delete;

  absl::StatusOr<bool> Next(Row& row) override;
  std::string_view encoding() const override { return "utf-8"; }

 private:
  // How reading a number of bytes from the pipe ended.
  enum class Read { kOk, kEof, kError };

  Read Fill(size_t want);
  Read ReadBytes(char* out, size_t size);
  Read ReadU32(uint32_t& value);

  absl::Status ReadRow(uint32_t row_number, uint32_t count);
  absl::Status FailRead(Read result);
  absl::Status Fail(absl::Status status);
  int Reap(bool kill_first);
  absl::Status ChildGone();

  pid_t pid_;  // -1 once reaped
  UniqueFd pipe_;
  const ReadLimits limits_;
  const XlsOptions options_;

  std::unique_ptr<char[]> buffer_;
  size_t pos_ = 0;
  size_t end_ = 0;
  Clock::duration waited_{};

  absl::Status error_;  // sticky; read errors set it before returning
  bool timed_out_ = false;
  bool done_ = false;

  uint32_t last_row_ = 0;
  int64_t data_rows_ = 0;
  int64_t header_width_ = -1;
  std::string text_;          // cell bytes of the current row
  std::vector<size_t> ends_;  // end of each cell in text_
  std::vector<std::string_view> cells_;
};

// Makes buffer_[pos_, end_) hold at least `want` (<= kBufferSize) bytes, waiting for the child
// within the wall-clock budget.
XlsReader::Read XlsReader::Fill(size_t want) {
  if (end_ - pos_ >= want) return Read::kOk;
  if (pos_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  const Clock::duration budget = std::chrono::milliseconds(options_.wall_ms);
  while (end_ < want) {
    const Clock::duration left = budget - waited_;
    if (left <= Clock::duration::zero()) {
      timed_out_ = true;
      return Read::kError;
    }
    struct pollfd poll_fd = {pipe_.get(), POLLIN, 0};
    const auto start = Clock::now();
    const int timeout_ms = static_cast<int>(
        std::min<int64_t>(std::chrono::ceil<std::chrono::milliseconds>(left).count(), 1'000'000));
    const int ready = ::poll(&poll_fd, 1, timeout_ms);
    waited_ += Clock::now() - start;
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Read::kError;
    }
    if (ready == 0) continue;  // the loop re-checks the budget
    const ssize_t n = ::read(pipe_.get(), buffer_.get() + end_, kBufferSize - end_);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Read::kError;
    }
    if (n == 0) return Read::kEof;
    end_ += static_cast<size_t>(n);
  }
  return Read::kOk;
}

XlsReader::Read XlsReader::ReadBytes(char* out, size_t size) {
  while (size > 0) {
    if (pos_ == end_) {
      if (const Read r = Fill(1); r != Read::kOk) return r;
    }
    const size_t n = std::min(size, end_ - pos_);
    std::memcpy(out, buffer_.get() + pos_, n);
    pos_ += n;
    out += n;
    size -= n;
  }
  return Read::kOk;
}

XlsReader::Read XlsReader::ReadU32(uint32_t& value) {
  if (const Read r = Fill(4); r != Read::kOk) return r;
  value = proto::GetU32(buffer_.get() + pos_);
  pos_ += 4;
  return Read::kOk;
}

absl::Status XlsReader::Fail(absl::Status status) {
  error_ = std::move(status);
  Reap(/*kill_first=*/true);
  return error_;
}

// Kills (if asked) and waits for the child; returns its wait status, or -1 when there was none.
int XlsReader::Reap(bool kill_first) {
  if (pid_ < 0) return -1;
  if (kill_first) ::kill(pid_, SIGKILL);
  int status = -1;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) {
      status = -1;
      break;
    }
  }
  pid_ = -1;
  pipe_.Reset();
  return status;
}

// The pipe ended (or failed) before the end frame: give the child a moment to finish dying so
// its exit status can name the cause, then reap it.
absl::Status XlsReader::ChildGone() {
  int status = -1;
  for (int i = 0; i < 200 && pid_ > 0; ++i) {
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      pipe_.Reset();
      break;
    }
    if (done < 0 && errno != EINTR) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (pid_ > 0) status = Reap(/*kill_first=*/true);
  if (status == -1) return Corrupt("parser ended without a result");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    return Corrupt("parser ended without a result");
  }
  return Corrupt(DescribeWaitStatus(status));
}

absl::Status XlsReader::FailRead(Read result) {
  if (timed_out_) {
    Reap(/*kill_first=*/true);
    error_ = Corrupt(fmt::format("parser timed out after {} ms", options_.wall_ms));
    return error_;
  }
  if (result == Read::kEof) {
    error_ = ChildGone();
    return error_;
  }
  return Fail(Corrupt(fmt::format("reading from the parser failed: {}", std::strerror(errno))));
}

// Reads the cells of a row frame into text_/ends_, checking the limits as it goes.
absl::Status XlsReader::ReadRow(uint32_t row_number, uint32_t count) {
  text_.clear();
  ends_.clear();
  const auto max_columns = static_cast<size_t>(std::max(limits_.max_columns, 0));
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t size = 0;
    if (const Read r = ReadU32(size); r != Read::kOk) return FailRead(r);
    if (size > limits_.max_cell_bytes) {
      return Fail(absl::ResourceExhaustedError(
          fmt::format("row {}: cell in column {} longer than {} bytes (limit {})", row_number,
                      i + 1, limits_.max_cell_bytes, limits_.max_cell_bytes)));
    }
    const size_t start = text_.size();
    text_.resize(start + size);
    if (const Read r = ReadBytes(text_.data() + start, size); r != Read::kOk) return FailRead(r);
    if (ends_.size() >= max_columns) {
      // Past the column limit only blank cells may follow; they are dropped.
      const bool blank = IsBlank(std::string_view(text_).substr(start));
      text_.resize(start);
      if (!blank) {
        return Fail(absl::ResourceExhaustedError(
            fmt::format("row {}: more than {} columns (limit {})", row_number, limits_.max_columns,
                        limits_.max_columns)));
      }
      continue;
    }
    ends_.push_back(text_.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> XlsReader::Next(Row& row) {
  if (!error_.ok()) return error_;
  if (done_) return false;
  for (;;) {
    char tag = 0;
    if (const Read r = ReadBytes(&tag, 1); r != Read::kOk) return FailRead(r);
    if (tag == proto::kEndTag) {
      // The child exits right after the end frame; anything but a clean exit is a failure.
      char extra = 0;
      const Read r = ReadBytes(&extra, 1);
      if (r == Read::kOk) return Fail(Corrupt("data after the end of the sheet"));
      if (timed_out_) return FailRead(r);
      const int status = Reap(/*kill_first=*/false);
      if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        error_ = Corrupt(status == -1 ? "parser status lost" : DescribeWaitStatus(status));
        return error_;
      }
      done_ = true;
      return false;
    }
    if (tag == proto::kErrorTag) {
      char kind = 0;
      uint32_t detail = 0;
      uint32_t error_row = 0;
      if (const Read r = ReadBytes(&kind, 1); r != Read::kOk) return FailRead(r);
      if (const Read r = ReadU32(detail); r != Read::kOk) return FailRead(r);
      if (const Read r = ReadU32(error_row); r != Read::kOk) return FailRead(r);
      proto::ChildError error;
      error.kind = static_cast<proto::ErrorKind>(static_cast<unsigned char>(kind));
      error.detail = static_cast<int32_t>(detail);
      error.row = error_row;
      return Fail(proto::ChildErrorStatus(error));
    }
    if (tag != proto::kRowTag) return Fail(Corrupt("malformed parser output"));

    uint32_t number = 0;
    uint32_t count = 0;
    if (const Read r = ReadU32(number); r != Read::kOk) return FailRead(r);
    if (const Read r = ReadU32(count); r != Read::kOk) return FailRead(r);
    if (number <= last_row_ || count > proto::kMaxCellsPerRow) {
      return Fail(Corrupt("malformed parser output"));
    }
    last_row_ = number;
    NEXUS_RETURN_IF_ERROR(ReadRow(number, count));

    cells_.clear();
    size_t start = 0;
    bool blank = true;
    for (const size_t end : ends_) {
      const std::string_view cell(text_.data() + start, end - start);
      start = end;
      size_t valid = 0;
      if (FindInvalidUtf8OrNul(cell, /*final=*/true, &valid) != kNotFound) {
        return Fail(Corrupt(fmt::format("row {}: invalid text from the parser", number)));
      }
      if (blank && !IsBlank(cell)) blank = false;
      cells_.push_back(cell);
    }
    if (blank) continue;  // the child skips blank rows; tolerate it if it does not

    if (header_width_ < 0) {
      while (!cells_.empty() && IsBlank(cells_.back())) cells_.pop_back();
      header_width_ = static_cast<int64_t>(cells_.size());
    } else {
      if (++data_rows_ > limits_.max_rows) {
        return Fail(
            absl::ResourceExhaustedError(fmt::format("row {}: more than {} data rows (limit {})",
                                                     number, limits_.max_rows, limits_.max_rows)));
      }
      const auto width = static_cast<size_t>(header_width_);
      while (cells_.size() > width && IsBlank(cells_.back())) cells_.pop_back();
      if (cells_.size() < width) cells_.resize(width);
    }
    row.number = number;
    row.cells = std::span<const std::string_view>(cells_.data(), cells_.size());
    return true;
  }
}

}  // namespace

std::string ResolveXlsHelperPath(const XlsOptions& options) {
  if (!options.helper_path.empty()) return options.helper_path;
  if (const char* env = std::getenv("NEXUS_XLS_HELPER"); env != nullptr && *env != '\0') {
    return env;
  }
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return kXlsHelperName;
  std::string dir(self, static_cast<size_t>(n));
  const size_t slash = dir.rfind('/');
  dir.resize(slash == std::string::npos ? 0 : slash);
  return dir + "/" + kXlsHelperName;
}

absl::StatusOr<std::unique_ptr<TableReader>> OpenXlsReader(const std::string& path,
                                                           const ReadLimits& limits,
                                                           const XlsOptions& options) {
  {
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) return ErrnoStatus(errno, path);
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) return ErrnoStatus(errno, path);
    if (!S_ISREG(info.st_mode)) return absl::InvalidArgumentError("not a regular file");
    const auto size = static_cast<uint64_t>(info.st_size);
    if (size > options.max_file_bytes) {
      return absl::ResourceExhaustedError(
          fmt::format("XLS file of {} bytes is larger than the limit of {} bytes", size,
                      options.max_file_bytes));
    }
    unsigned char magic[sizeof(kOle2Magic)] = {};
    ssize_t got;
    do {
      got = ::pread(file.get(), magic, sizeof(magic), 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return ErrnoStatus(errno, path);
    if (static_cast<size_t>(got) != sizeof(magic) ||
        std::memcmp(magic, kOle2Magic, sizeof(magic)) != 0) {
      return Corrupt("not an OLE2 compound file");
    }
  }

  const std::string helper = ResolveXlsHelperPath(options);
  if (::access(helper.c_str(), X_OK) != 0) {
    return absl::InternalError(fmt::format("XLS helper {} is missing or not executable: {}", helper,
                                           std::strerror(errno)));
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  // A 1 MiB pipe (the default is 64 KiB) halves the context switches between the two processes;
  // the pipe-max-size sysctl may refuse it, which only costs speed.
  ::fcntl(write_end.get(), F_SETPIPE_SZ, 1 << 20);

  SpawnSetup setup;
  if (!setup.ok()) return absl::InternalError("posix_spawn setup failed");
  sigset_t signals;
  sigemptyset(&signals);
  ::posix_spawnattr_setsigmask(setup.attr(), &signals);
  for (const int sig :
       {SIGPIPE, SIGXCPU, SIGXFSZ, SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM}) {
    sigaddset(&signals, sig);
  }
  ::posix_spawnattr_setsigdefault(setup.attr(), &signals);
  ::posix_spawnattr_setflags(setup.attr(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int rc = ::posix_spawn_file_actions_addopen(setup.actions(), 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(setup.actions(), write_end.get(), 1);
  if (rc == 0 && !options.inherit_stderr) {
    rc = ::posix_spawn_file_actions_addopen(setup.actions(), 2, "/dev/null", O_WRONLY, 0);
  }
  if (rc == 0) rc = ::posix_spawn_file_actions_addclosefrom_np(setup.actions(), 3);
  if (rc != 0) return ErrnoStatus(rc, "posix_spawn_file_actions");

  std::string memory_arg = fmt::format("--max-memory={}", options.max_memory_bytes);
  std::string cpu_arg = fmt::format("--cpu-seconds={}", std::max(options.cpu_seconds, 1));
  std::string separator = "--";
  std::string file_arg = path;
  std::string helper_arg = helper;
  char* argv[] = {helper_arg.data(), memory_arg.data(), cpu_arg.data(),
                  separator.data(),  file_arg.data(),   nullptr};
  pid_t pid = -1;
  rc = ::posix_spawn(&pid, helper.c_str(), setup.actions(), setup.attr(), argv, environ);
  if (rc != 0) {
    return absl::InternalError(
        fmt::format("cannot start XLS helper {}: {}", helper, std::strerror(rc)));
  }
  write_end.Reset();
  return std::unique_ptr<TableReader>(new XlsReader(pid, std::move(read_end), limits, options));
}

}  // namespace nexus::ingest

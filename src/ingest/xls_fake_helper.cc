// File: ingest/xls_fake_helper.cc
//
// Test stand-in for nexus-xls-reader (xls_reader_test.cc): misbehaves the way a subverted or
// broken parser might, chosen by the environment variable NEXUS_FAKE_XLS_MODE. It accepts the
// real helper's arguments. Frames are written by hand (xls_protocol.h) so this program depends
// on nothing.
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void PutU32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>(value >> (8 * i));
}

std::string RowFrame(uint32_t number, const std::vector<std::string>& cells) {
  std::string frame = "R";
  PutU32(frame, number);
  PutU32(frame, static_cast<uint32_t>(cells.size()));
  for (const std::string& cell : cells) {
    PutU32(frame, static_cast<uint32_t>(cell.size()));
    frame += cell;
  }
  return frame;
}

void Write(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(1, bytes.data() + done, bytes.size() - done);
    if (n <= 0) std::_Exit(9);
    done += static_cast<size_t>(n);
  }
}

// A real crash, also in sanitizer builds (whose SIGSEGV handler would report and exit 1).
void Crash() {
  ::signal(SIGSEGV, SIG_DFL);
  ::raise(SIGSEGV);
}

[[noreturn]] void SleepForever() {
  for (;;) ::pause();
}

int OpenDescriptorsAbove2() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (const dirent* entry = ::readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (entry->d_name[0] != '.' && fd > 2 && fd != ::dirfd(dir)) ++count;
  }
  ::closedir(dir);
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("NEXUS_FAKE_XLS_MODE");
  const std::string mode = env == nullptr ? "" : env;
  const std::string header = RowFrame(1, {"phoneNumber", "name"});

  if (mode == "segv") Crash();
  if (mode == "abort") std::abort();
  if (mode == "exit1") return 1;
  if (mode == "exit3") return 3;
  if (mode == "sleep") SleepForever();
  if (mode == "spin") {
    for (int i = 1; i < argc; ++i) {
      if (std::strncmp(argv[i], "--cpu-seconds=", 14) == 0) {
        const rlim_t seconds = std::strtoul(argv[i] + 14, nullptr, 10);
        const struct rlimit limit = {seconds, seconds + 1};
        ::setrlimit(RLIMIT_CPU, &limit);
      }
    }
    volatile uint64_t spins = 0;
    for (;;) spins = spins + 1;
  }
  if (mode == "garbage") {
    Write("Zjunk");
    return 0;
  }
  if (mode == "rows_then_crash") {
    Write(header + RowFrame(2, {"12125551234", "Ann"}));
    Crash();
  }
  if (mode == "no_end") {
    Write(header);
    return 0;
  }
  if (mode == "truncated_frame") {
    Write(header.substr(0, header.size() - 3));
    return 0;
  }
  if (mode == "huge_cell") {
    std::string frame = "R";
    PutU32(frame, 1);
    PutU32(frame, 1);
    PutU32(frame, 0xFFFFFFF0u);
    Write(frame);
    SleepForever();
  }
  if (mode == "many_cells") {
    std::string frame = "R";
    PutU32(frame, 1);
    PutU32(frame, 70'000);
    Write(frame);
    SleepForever();
  }
  if (mode == "bad_order") {
    Write(RowFrame(5, {"a"}) + RowFrame(3, {"b"}) + "E");
    return 0;
  }
  if (mode == "end_then_hang") {
    Write(header + "E");
    SleepForever();
  }
  if (mode == "end_then_exit1") {
    Write(header + "E");
    return 1;
  }
  if (mode == "invalid_utf8") {
    Write(RowFrame(1, {"ok", "bad\xFF"}) + "E");
    return 0;
  }
  if (mode == "error_frame") {
    std::string frame = "X";
    frame += static_cast<char>(3);
    PutU32(frame, static_cast<uint32_t>(-15));
    PutU32(frame, 0);
    Write(header + frame);
    return 0;
  }
  if (mode == "environment") {
    // One row: the count of inherited descriptors above 2, then every argument.
    std::vector<std::string> cells = {std::to_string(OpenDescriptorsAbove2())};
    for (int i = 0; i < argc; ++i) cells.emplace_back(argv[i]);
    Write(RowFrame(1, cells) + "E");
    return 0;
  }
  return 2;
}

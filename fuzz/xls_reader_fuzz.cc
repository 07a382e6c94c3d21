// libFuzzer target for the FreeXL side of the XLS reader (ingest::ReadXlsRows, xls_child.h),
// run in-process so libFuzzer sees coverage (in production it runs in the nexus-xls-reader child,
// whose crash the server survives; see xls_reader.h). The input is the .xls file, handed to
// FreeXL through a memfd's /proc/self/fd path. Every row must keep the child's side of the
// protocol: increasing 1-based row numbers, at most 65,535 cells, UTF-8 cells without NUL, no
// blank row, no trailing exactly-empty cell. At most 2,000 rows are read per input.
// Run (FreeXL leaks on its error paths, so leak checking is off; the first directory receives
// new inputs, so keep fuzz/corpus/xls second):
//   mkdir -p /tmp/xls-corpus && ASAN_OPTIONS=detect_leaks=0 build/fuzz-xls/fuzz/xls_reader_fuzz \
//       -timeout=20 -rss_limit_mb=2048 -max_len=16384 /tmp/xls-corpus fuzz/corpus/xls
// FreeXL 1.0.6 still crashes on some inputs (its SST parser, its cleanup after an error): add
// -fork=1 -ignore_crashes=1 to keep going. Those crashes are contained by the child process in
// production (xls_reader.h); see XlsReaderTest.FuzzerFindingsAreContained.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "ingest/text_encoding.h"
#include "ingest/xls_child.h"

namespace {

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "contract violated: %s\n", what);
    std::abort();
  }
}

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\n\v\f\r") == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = ::memfd_create("xls_fuzz", MFD_CLOEXEC);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  Check(fd >= 0, "memfd_create");
  Check(::ftruncate(fd, 0) == 0, "ftruncate");
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    Check(n > 0, "pwrite");
    done += static_cast<size_t>(n);
  }

  uint32_t last = 0;
  int rows = 0;
  const nexus::ingest::xls_protocol::ChildError error = nexus::ingest::ReadXlsRows(
      path.c_str(), [&](uint32_t number, std::span<const std::string_view> cells) {
        Check(number > last, "row numbers increase");
        last = number;
        Check(cells.size() <= 65'535, "cells per row");
        Check(!cells.empty() && !cells.back().empty(), "no trailing empty cell");
        bool blank = true;
        for (const std::string_view cell : cells) {
          size_t valid = 0;
          Check(nexus::ingest::FindInvalidUtf8OrNul(cell, true, &valid) == nexus::ingest::kNotFound,
                "cells are UTF-8 without NUL");
          if (!IsBlank(cell)) blank = false;
        }
        Check(!blank, "blank rows are skipped");
        return ++rows < 2000;
      });
  Check(error.kind != nexus::ingest::xls_protocol::ErrorKind::kWrite, "no write errors in-process");
  return 0;
}

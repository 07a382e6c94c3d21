// File: ingest/xls_reader.h
//
// Reading legacy Excel workbooks (.xls: BIFF5/BIFF8 inside an OLE2 compound file) as a
// TableReader (table_reader.h), with FreeXL, in a child process.
//
// Process model. FreeXL has had heap overflows that gave code execution (CVE-2017-2923/2924,
// CVE-2018-7435..7439), so it never runs in the server. OpenXlsReader starts the helper
// executable nexus-xls-reader (xls_child_main.cc) with posix_spawn, giving it the file's path
// and its limits; the helper sets RLIMIT_AS (max_memory_bytes), RLIMIT_CPU (cpu_seconds) and no
// core dumps on itself before it opens the file, parses the first sheet and streams the non-blank
// rows back over a pipe (framing: xls_protocol.h). Next() reads one frame at a time through a
// 64 KiB buffer: memory in the server stays bounded by the ReadLimits whatever the child sends.
// The child gets /dev/null as stdin and stderr (XlsOptions::inherit_stderr for debugging), the
// pipe as stdout, no other descriptor (closefrom 3), default signal dispositions and an empty
// signal mask.
//
// Where the helper is: XlsOptions::helper_path, else the environment variable NEXUS_XLS_HELPER,
// else "nexus-xls-reader" in the directory of the running executable (/proc/self/exe). The build
// puts the helper next to the `nexus` binary (src/cli/) and makes it a dependency of `nexus`; an
// installation must copy both. A missing helper is a server fault: InternalError.
//
// Failures of the child all become InvalidArgument "corrupt or unreadable XLS file (...)": a
// crash (any signal), the CPU limit (SIGXCPU, or SIGKILL one second later), memory exhaustion
// (FreeXL's "out of memory" or the helper's exit code 3), a non-zero exit, a malformed frame, and
// the wall-clock limit. The wall clock (wall_ms, default 20 s) bounds the total time Next() has
// spent waiting for the child, not the time since the start, so a slow consumer between two rows
// does not count against the parser. On a timeout the child is killed with SIGKILL. A
// password-protected workbook → InvalidArgument "encrypted workbook: remove the password and
// upload again". A file larger than max_file_bytes → ResourceExhausted before any parsing.
//
// Rows: the child skips blank rows (every cell empty after trimming ASCII whitespace) and sends
// each other row with its spreadsheet number; the parent applies the rest of the TableReader
// contract: header first, trailing blank cells of the header dropped, data rows padded to the
// header's width, and the limits (max_rows, max_columns, max_cell_bytes: ResourceExhausted naming
// the row, with the CSV reader's messages). Cell text: see xls_child.h (numbers, dates, booleans,
// formulas by their cached value; the first worksheet). encoding() is always "utf-8".
//
// The child is always reaped: at the end of the sheet, on any error, and in the destructor,
// which kills it (SIGKILL) if it is still running. Do not set SIGCHLD to SIG_IGN in the server
// (children would be reaped by the kernel and their exit status lost: reported as corrupt).
// Not thread-safe (one reader, one thread at a time); any number of readers may run at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ingest/table_reader.h"

namespace nexus::ingest {

struct XlsOptions {
  std::string helper_path;                   // "" → $NEXUS_XLS_HELPER → beside /proc/self/exe
  uint64_t max_file_bytes = 100ull << 20;    // larger files are refused (ResourceExhausted)
  uint64_t max_memory_bytes = 512ull << 20;  // child RLIMIT_AS (not applied in ASan builds)
  int cpu_seconds = 10;                      // child RLIMIT_CPU
  int64_t wall_ms = 20'000;                  // total time Next() may wait for the child
  bool inherit_stderr = false;               // let the child write to our stderr
};

// Name of the helper executable, looked up next to the running executable.
inline constexpr char kXlsHelperName[] = "nexus-xls-reader";

// The helper path `options` resolve to (see the file comment); NotFound-free: the path may not
// exist.
std::string ResolveXlsHelperPath(const XlsOptions& options);

// Checks the file (NotFound/PermissionDenied from errno; ResourceExhausted when larger than
// max_file_bytes; InvalidArgument when it is not an OLE2 compound file), starts the child and
// returns the reader. The first parse errors surface from Next().
absl::StatusOr<std::unique_ptr<TableReader>> OpenXlsReader(const std::string& path,
                                                           const ReadLimits& limits,
                                                           const XlsOptions& options = {});

}  // namespace nexus::ingest

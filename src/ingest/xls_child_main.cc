// File: ingest/xls_child_main.cc
//
// nexus-xls-reader: the helper process that parses one .xls file with FreeXL and streams its
// first sheet's rows to stdout (framing: ingest/xls_protocol.h). Started only by XlsReader
// (ingest/xls_reader.h), never by hand:
//
//   nexus-xls-reader [--max-memory=BYTES] [--cpu-seconds=N] -- PATH
//
// Before touching the file it limits itself: no core dumps, RLIMIT_CPU N seconds (soft; the
// kernel sends SIGKILL one second later), RLIMIT_AS BYTES (skipped in AddressSanitizer builds,
// whose shadow memory needs terabytes of address space). A limit that cannot be set is fatal.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ingest/xls_child.h"

#if defined(__SANITIZE_ADDRESS__)
#define NEXUS_XLS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NEXUS_XLS_ASAN 1
#endif
#endif

namespace {

bool ParseNumber(std::string_view text, unsigned long long& value) {
  if (text.empty() || text.size() > 19) return false;
  value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned long long>(c - '0');
  }
  return true;
}

bool SetLimit(int resource, rlim_t soft, rlim_t hard) {
  const struct rlimit limit = {soft, hard};
  return ::setrlimit(resource, &limit) == 0;
}

int Usage() {
  std::fputs("usage: nexus-xls-reader [--max-memory=BYTES] [--cpu-seconds=N] -- PATH\n", stderr);
  return nexus::ingest::kXlsExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long long max_memory = 0;
  unsigned long long cpu_seconds = 0;
  const char* path = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--") {
      if (i + 2 != argc) return Usage();
      path = argv[i + 1];
      break;
    }
    if (arg.starts_with("--max-memory=")) {
      if (!ParseNumber(arg.substr(13), max_memory)) return Usage();
    } else if (arg.starts_with("--cpu-seconds=")) {
      if (!ParseNumber(arg.substr(14), cpu_seconds)) return Usage();
    } else {
      return Usage();
    }
  }
  if (path == nullptr) return Usage();

  bool ok = SetLimit(RLIMIT_CORE, 0, 0);
  if (cpu_seconds > 0) ok = ok && SetLimit(RLIMIT_CPU, cpu_seconds, cpu_seconds + 1);
#ifndef NEXUS_XLS_ASAN
  if (max_memory > 0) ok = ok && SetLimit(RLIMIT_AS, max_memory, max_memory);
#endif
  if (!ok) {
    std::perror("nexus-xls-reader: setrlimit");
    return nexus::ingest::kXlsExitUsage;
  }
  return nexus::ingest::RunXlsChild(path, /*fd=*/1);
}

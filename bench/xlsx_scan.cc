// xlsx_scan FILE [--dump]: reads the first worksheet of FILE with ingest::XlsxReader (default
// limits but unlimited rows) and prints rows, cells, time and rows/s; --dump also prints every
// row. For measuring throughput and peak RSS (/usr/bin/time -v) outside the benchmark harness.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "ingest/xlsx_reader.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: xlsx_scan FILE [--dump]\n");
    return 2;
  }
  const bool dump = argc == 3 && std::string(argv[2]) == "--dump";
  const auto start = std::chrono::steady_clock::now();
  nexus::ingest::ReadLimits limits;
  limits.max_rows = INT64_MAX;
  auto reader = nexus::ingest::XlsxReader::Open(argv[1], limits);
  if (!reader.ok()) {
    std::fprintf(stderr, "xlsx_scan: %s\n", reader.status().ToString().c_str());
    return 1;
  }
  const double open_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nexus::ingest::Row row;
  int64_t rows = 0;
  int64_t cells = 0;
  int64_t last = 0;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(row);
    if (!more.ok()) {
      std::fprintf(stderr, "xlsx_scan: %s\n", more.status().ToString().c_str());
      return 1;
    }
    if (!*more) break;
    ++rows;
    cells += static_cast<int64_t>(row.cells.size());
    last = row.number;
    if (dump) {
      std::printf("%lld:", static_cast<long long>(row.number));
      for (const std::string_view cell : row.cells) {
        std::printf(" [%.*s]", static_cast<int>(cell.size()), cell.data());
      }
      std::printf("\n");
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr,
               "rows %lld (last row number %lld), cells %lld, sheet \"%s\", open (shared strings, "
               "styles) %.3f s, total %.3f s, %.0f rows/s\n",
               static_cast<long long>(rows), static_cast<long long>(last),
               static_cast<long long>(cells), (*reader)->sheet_name().c_str(), open_seconds,
               seconds, static_cast<double>(rows) / seconds);
  return 0;
}

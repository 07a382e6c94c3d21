// csv_scan FILE [--dump]: reads FILE with ingest::CsvReader (default limits but unlimited rows)
// and prints rows, cells, encoding, delimiter, time and MB/s; --dump also prints every row.
// For measuring throughput and peak RSS (/usr/bin/time -v) outside the benchmark harness.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "ingest/byte_source.h"
#include "ingest/csv_reader.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: csv_scan FILE [--dump]\n");
    return 2;
  }
  const bool dump = argc == 3 && std::string(argv[2]) == "--dump";
  const auto start = std::chrono::steady_clock::now();
  auto source = nexus::ingest::FileByteSource::Open(argv[1]);
  if (!source.ok()) {
    std::fprintf(stderr, "csv_scan: %s\n", source.status().ToString().c_str());
    return 1;
  }
  nexus::ingest::ReadLimits limits;
  limits.max_rows = INT64_MAX;
  nexus::ingest::CsvReader reader(std::move(*source), limits);
  nexus::ingest::Row row;
  int64_t rows = 0;
  int64_t cells = 0;
  int64_t last = 0;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(row);
    if (!more.ok()) {
      std::fprintf(stderr, "csv_scan: %s\n", more.status().ToString().c_str());
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
  struct stat info {};
  ::stat(argv[1], &info);
  const char delimiter = reader.delimiter();
  std::fprintf(stderr,
               "rows %lld (last row number %lld), cells %lld, encoding %.*s, delimiter '%s', "
               "%.3f s, %.0f MB/s\n",
               static_cast<long long>(rows), static_cast<long long>(last),
               static_cast<long long>(cells), static_cast<int>(reader.encoding().size()),
               reader.encoding().data(),
               delimiter == '\t' ? "\\t" : std::string(1, delimiter).c_str(), seconds,
               static_cast<double>(info.st_size) / seconds / 1e6);
  return 0;
}

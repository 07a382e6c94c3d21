// Google Benchmark for ingest::XlsxReader. The input, bench/data/contacts_100000.xlsx
// (git-ignored), is written on first use by WriteContactsXlsx (the rows of contacts_100000.csv as a
// workbook).
#include <benchmark/benchmark.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/xlsx_contacts_gen.h"
#include "ingest/xlsx_reader.h"

namespace nexus::bench {
namespace {

std::string XlsxFile(int64_t rows) {
  const std::string dir = NEXUS_BENCH_DATA_DIR;
  ::mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/contacts_" + std::to_string(rows) + ".xlsx";
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const absl::Status status = WriteContactsXlsx(path, rows);
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      std::abort();
    }
  }
  return path;
}

// Open (content types, workbook, styles, shared strings) and every row of the sheet.
void BM_XlsxReaderFile(benchmark::State& state) {
  const std::string path = XlsxFile(state.range(0));
  ingest::ReadLimits limits;
  limits.max_rows = INT64_MAX;
  int64_t rows = 0;
  for (auto _ : state) {
    auto reader = ingest::XlsxReader::Open(path, limits);
    if (!reader.ok()) {
      state.SkipWithError(reader.status().ToString().c_str());
      return;
    }
    ingest::Row row;
    for (;;) {
      absl::StatusOr<bool> more = (*reader)->Next(row);
      if (!more.ok()) {
        state.SkipWithError(more.status().ToString().c_str());
        return;
      }
      if (!*more) break;
      benchmark::DoNotOptimize(row.cells.data());
      ++rows;
    }
  }
  struct stat info {};
  ::stat(path.c_str(), &info);
  state.SetBytesProcessed(state.iterations() * info.st_size);
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}
// rows/s is per CPU second (the default): the machine is shared, wall time is noisy.
BENCHMARK(BM_XlsxReaderFile)->Arg(100'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace nexus::bench

BENCHMARK_MAIN();

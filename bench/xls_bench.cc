// Google Benchmark for the XLS reader (ingest/xls_reader.h). Input: bench/data/contacts_50000.xls,
// made by bench/gen_contacts_xls.py from gen_contacts' CSV (see that script); the benchmark is
// skipped when the file is missing.
//   BM_XlsReader        OpenXlsReader + every row: helper process start, FreeXL, the pipe.
//   BM_XlsRowsInProcess ReadXlsRows alone (FreeXL + cell formatting, no process, no pipe).
#include <benchmark/benchmark.h>
#include <sys/stat.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ingest/xls_child.h"
#include "ingest/xls_reader.h"

namespace nexus::bench {
namespace {

std::string XlsFile() { return std::string(NEXUS_BENCH_DATA_DIR) + "/contacts_50000.xls"; }

bool Exists(const std::string& path, benchmark::State& state) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    state.SetBytesProcessed(0);
    return true;
  }
  state.SkipWithError(("missing " + path + ": see bench/gen_contacts_xls.py").c_str());
  return false;
}

int64_t FileSize(const std::string& path) {
  struct stat info {};
  ::stat(path.c_str(), &info);
  return info.st_size;
}

void BM_XlsReader(benchmark::State& state) {
  const std::string path = XlsFile();
  if (!Exists(path, state)) return;
  ingest::XlsOptions options;
  options.helper_path = NEXUS_XLS_HELPER;
  int64_t rows = 0;
  for (auto _ : state) {
    auto reader = ingest::OpenXlsReader(path, {}, options);
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
  state.SetBytesProcessed(state.iterations() * FileSize(path));
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_XlsReader)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_XlsRowsInProcess(benchmark::State& state) {
  const std::string path = XlsFile();
  if (!Exists(path, state)) return;
  int64_t rows = 0;
  for (auto _ : state) {
    const auto error =
        ingest::ReadXlsRows(path.c_str(), [&](uint32_t, std::span<const std::string_view> cells) {
          benchmark::DoNotOptimize(cells.data());
          ++rows;
          return true;
        });
    if (error.kind != ingest::xls_protocol::ErrorKind::kNone) {
      state.SkipWithError(ingest::xls_protocol::ChildErrorText(error).c_str());
      return;
    }
  }
  state.SetBytesProcessed(state.iterations() * FileSize(path));
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_XlsRowsInProcess)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace nexus::bench

BENCHMARK_MAIN();

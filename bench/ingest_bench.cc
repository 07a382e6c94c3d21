// Google Benchmark for the ingest readers. Input files are generated on first use into
// bench/data/ (git-ignored): contacts_{100000,1000000}.csv (realistic: quotes, accents, quoted
// newlines) and plain_{100000,1000000}.csv (nothing to quote or transcode). Arguments:
// rows, style (0 realistic, 1 plain).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/contacts_gen.h"
#include "ingest/byte_source.h"
#include "ingest/csv_reader.h"

namespace nexus::bench {
namespace {

ContactsStyle Style(int64_t arg) {
  return arg == 1 ? ContactsStyle::kPlain : ContactsStyle::kRealistic;
}

std::string DataFile(int64_t rows, ContactsStyle style) {
  const std::string dir = NEXUS_BENCH_DATA_DIR;
  ::mkdir(dir.c_str(), 0755);
  const std::string path = dir + (style == ContactsStyle::kPlain ? "/plain_" : "/contacts_") +
                           std::to_string(rows) + ".csv";
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const absl::Status status = WriteContactsCsv(path, rows, 1, style);
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      std::abort();
    }
  }
  return path;
}

int64_t FileSize(const std::string& path) {
  struct stat info {};
  ::stat(path.c_str(), &info);
  return info.st_size;
}

void ReadAll(ingest::TableReader& reader, benchmark::State& state, int64_t& rows) {
  ingest::Row row;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(row);
    if (!more.ok()) {
      state.SkipWithError(more.status().ToString().c_str());
      return;
    }
    if (!*more) return;
    benchmark::DoNotOptimize(row.cells.data());
    ++rows;
  }
}

// The reader over a file on disk (page cache warm after the first iteration).
void BM_CsvReaderFile(benchmark::State& state) {
  const std::string path = DataFile(state.range(0), Style(state.range(1)));
  int64_t rows = 0;
  for (auto _ : state) {
    auto source = ingest::FileByteSource::Open(path);
    if (!source.ok()) {
      state.SkipWithError(source.status().ToString().c_str());
      return;
    }
    ingest::CsvReader reader(std::move(*source));
    ReadAll(reader, state, rows);
  }
  state.SetBytesProcessed(state.iterations() * FileSize(path));
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CsvReaderFile)
    ->ArgsProduct({{100'000, 1'000'000}, {0, 1}})
    ->ArgNames({"rows", "plain"})
    ->Unit(benchmark::kMillisecond);

// The reader over bytes already in memory (no read(2)): the parser plus one memcpy per chunk.
// 100k rows (8 MB) only: the source string stays mostly in cache, so this is the parser's speed.
void BM_CsvReaderMemory(benchmark::State& state) {
  const std::string data = ContactsCsv(state.range(0), 1, Style(state.range(1)));
  int64_t rows = 0;
  for (auto _ : state) {
    ingest::CsvReader reader(std::make_unique<ingest::StringByteSource>(data));
    ReadAll(reader, state, rows);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(data.size()));
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CsvReaderMemory)
    ->ArgsProduct({{100'000}, {0, 1}})
    ->ArgNames({"rows", "plain"})
    ->Unit(benchmark::kMillisecond);

// Ceiling: read(2) in 256 KiB chunks and count '\n' with memchr, like `wc -l`.
void BM_CountLinesFile(benchmark::State& state) {
  const std::string path = DataFile(state.range(0), Style(state.range(1)));
  std::vector<char> buffer(256 * 1024);
  int64_t lines = 0;
  for (auto _ : state) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    ssize_t n;
    while ((n = ::read(fd, buffer.data(), buffer.size())) > 0) {
      const char* p = buffer.data();
      const char* end = p + n;
      while ((p = static_cast<const char*>(std::memchr(p, '\n', end - p))) != nullptr) {
        ++lines;
        ++p;
      }
    }
    ::close(fd);
  }
  benchmark::DoNotOptimize(lines);
  state.SetBytesProcessed(state.iterations() * FileSize(path));
}
BENCHMARK(BM_CountLinesFile)
    ->ArgsProduct({{1'000'000}, {0, 1}})
    ->ArgNames({"rows", "plain"})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace nexus::bench

BENCHMARK_MAIN();

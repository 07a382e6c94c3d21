// libFuzzer target for ingest::CsvReader. The first input byte picks the options (chunking of
// the source, sniff window, delimiter); the rest is the file. Every input is read twice, once in
// one piece and once a few bytes at a time, and the two results must be identical. Any input
// must end in rows or in InvalidArgument / ResourceExhausted, and every row must keep the
// contract: increasing numbers, UTF-8 cells without NUL, within the limits.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "ingest/byte_source.h"
#include "ingest/csv_reader.h"
#include "ingest/text_encoding.h"

namespace {

using nexus::ingest::CsvOptions;
using nexus::ingest::CsvReader;
using nexus::ingest::ReadLimits;
using nexus::ingest::Row;
using nexus::ingest::StringByteSource;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "contract violated: %s\n", what);
    std::abort();
  }
}

// Reads everything; returns a transcript of the rows and the final status.
std::string ReadAll(std::string data, size_t max_read, const ReadLimits& limits,
                    const CsvOptions& options) {
  CsvReader reader(std::make_unique<StringByteSource>(std::move(data), max_read), limits, options);
  std::string transcript;
  Row row;
  int64_t last = 0;
  int64_t rows = 0;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(row);
    if (!more.ok()) {
      const absl::StatusCode code = more.status().code();
      Check(code == absl::StatusCode::kInvalidArgument ||
                code == absl::StatusCode::kResourceExhausted,
            "error code");
      Check(more.status().message().substr(0, 4) == "row ", "error message names the row");
      Check(reader.Next(row).status() == more.status(), "errors are sticky");
      transcript += "error: " + std::string(more.status().message());
      break;
    }
    if (!*more) {
      Check(reader.Next(row).ok() && !*reader.Next(row), "end is sticky");
      break;
    }
    Check(row.number > last, "row numbers increase");
    last = row.number;
    Check(++rows <= limits.max_rows + 1, "row limit");
    Check(row.cells.size() <= static_cast<size_t>(limits.max_columns), "column limit");
    bool blank = true;
    transcript += std::to_string(row.number) + ":";
    for (const std::string_view cell : row.cells) {
      Check(cell.size() <= limits.max_cell_bytes, "cell limit");
      size_t valid = 0;
      Check(nexus::ingest::FindInvalidUtf8OrNul(cell, true, &valid) == nexus::ingest::kNotFound,
            "cells are UTF-8 without NUL");
      if (cell.find_first_not_of(" \t\r\n\f\v") != std::string_view::npos) blank = false;
      transcript += std::to_string(cell.size()) + "|";
      transcript += cell;
    }
    Check(!blank, "blank rows are skipped");
    transcript += "\n";
  }
  transcript += " encoding=" + std::string(reader.encoding());
  return transcript;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t config = data[0];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  ReadLimits limits;
  limits.max_rows = 40;
  limits.max_columns = 8;
  limits.max_cell_bytes = 48;
  CsvOptions options;
  options.read_bytes = 64;
  static constexpr size_t kSniff[4] = {0, 5, 64, 1 << 20};
  options.sniff_bytes = kSniff[config & 3];
  static constexpr char kDelimiter[4] = {0, 0, ';', '\t'};
  options.delimiter = kDelimiter[(config >> 2) & 3];
  const size_t small_read = 1 + ((config >> 4) & 7);

  const std::string whole = ReadAll(text, text.size() + 1, limits, options);
  const std::string pieces = ReadAll(text, small_read, limits, options);
  if (whole != pieces) {
    std::fprintf(stderr, "one piece:\n%s\n\nin pieces of %zu:\n%s\n", whole.c_str(), small_read,
                 pieces.c_str());
    std::abort();
  }
  return 0;
}

// File: ingest/conformance_test_support.h
//
// Test-only: reads a whole TableReader into plain values, so tests can compare readers of
// different formats on the same table (conformance_test.cc) or check one reader's output.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ingest/table_reader.h"

namespace nexus::ingest::testing {

struct ReadResult {
  std::vector<int64_t> numbers;                // Row.number of each row returned
  std::vector<std::vector<std::string>> rows;  // the header first
  absl::Status status;                         // OK, or the error that ended the read
};

// Reads until the end or the first error (which goes into `status`).
inline ReadResult ReadToEnd(TableReader& reader) {
  ReadResult result;
  Row row;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(row);
    if (!more.ok()) {
      result.status = more.status();
      return result;
    }
    if (!*more) return result;
    result.numbers.push_back(row.number);
    result.rows.emplace_back(row.cells.begin(), row.cells.end());
  }
}

// All rows (header first); `numbers`, when given, receives their row numbers. An error is a test
// failure.
inline std::vector<std::vector<std::string>> ReadAll(TableReader& reader,
                                                     std::vector<int64_t>* numbers = nullptr) {
  ReadResult result = ReadToEnd(reader);
  EXPECT_TRUE(result.status.ok()) << result.status;
  if (numbers != nullptr) *numbers = std::move(result.numbers);
  return std::move(result.rows);
}

}  // namespace nexus::ingest::testing

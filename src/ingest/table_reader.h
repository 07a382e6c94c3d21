// File: ingest/table_reader.h
//
// The interface every spreadsheet reader implements (CSV now; XLSX and XLS later): bytes in, a
// stream of rows of string cells out, each with the row number a spreadsheet shows. The ingest
// module knows nothing about agents, schemas or phone numbers; the upload service (and the DNC
// upload) give meaning to the cells.
//
// Contract shared by all readers:
//   * The first row returned is the header row: the first non-blank row of the file (row 1, or
//     later when the file starts with blank rows). An empty or all-blank file returns no row at
//     all; the caller reports "header row required".
//   * Row.number is the spreadsheet row number: the header is row 1 when it is the first row, and
//     every physical row counts, blank ones included. A blank row (every cell empty after trimming
//     ASCII whitespace; `,,` included) is never returned but still consumes its number.
//   * Cells are returned as UTF-8 text, untrimmed, exactly as stored (quotes removed). Data rows
//     have at least as many cells as the header (missing trailing cells are returned as ""), and
//     more only when non-empty cells lie beyond the header's width; empty cells beyond it are
//     dropped. The header row itself has its trailing empty cells dropped.
//   * Limits (ReadLimits) are checked while streaming, before memory grows past them. Crossing
//     one → absl::ResourceExhaustedError naming the limit and the row, e.g.
//     "row 70002: more than 256 columns (limit 256)". Malformed input (bad quoting, NUL bytes,
//     a corrupt container) → absl::InvalidArgumentError naming the row. These two codes are the
//     contract: the HTTP layer maps ResourceExhausted → 422 and InvalidArgument → 400. An error
//     from the ByteSource is passed on unchanged. After any error, Next() keeps returning it.
//   * Not thread-safe; one reader is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace nexus::ingest {

// File-level limits. Defaults follow SPEC §3; the service passes its configured values.
struct ReadLimits {
  int64_t max_rows = 1'000'000;                  // data rows (the header is not counted)
  int max_columns = 256;                         // cells per row, trailing empty cells not counted
  size_t max_cell_bytes = 64 * 1024;             // bytes of one cell's UTF-8 text
  uint64_t max_decompressed_bytes = 1ull << 30;  // XLSX: total inflated bytes (unused by CSV)
};

// One row of the table. The views point into the reader's buffers and stay valid only until the
// next call to Next() (or the reader's destruction); copy what you keep.
struct Row {
  int64_t number = 0;  // spreadsheet row number; header = 1 when it is the first row
  std::span<const std::string_view> cells;
};

class TableReader {
 public:
  virtual ~TableReader() = default;

  // Fills `row` with the next non-blank row and returns true, or returns false at the end of the
  // table (and keeps returning false). Errors as described in the file comment.
  virtual absl::StatusOr<bool> Next(Row& row) = 0;

  // The text encoding of the source: "utf-8", "utf-16le", "utf-16be" or "windows-1252" (XLSX/XLS
  // report "utf-8": their text is Unicode by construction). Final once Next() has returned false;
  // a CSV reader may switch from "utf-8" to "windows-1252" part way through (see csv_reader.h).
  virtual std::string_view encoding() const = 0;
};

}  // namespace nexus::ingest

// File: ingest/xlsx_reader.h
//
// A streaming reader (TableReader) for the first worksheet of an .xlsx workbook (Office Open XML,
// transitional or strict). The file must be on disk (or in memory): a ZIP needs random access.
// Nothing is extracted to disk and no XML DOM is built: the sheet is inflated 64 KiB at a time
// into expat, and the rows completed by one chunk wait in a small queue for Next(). Memory is the
// shared strings (one text arena plus one offset per string), one style flag per cell format, the
// queue (bounded by the chunk size and the cell limits) and a row being assembled.
//
// What is read (SPEC §4 "The file"):
//   * The sheet: the first <sheet> of xl/workbook.xml (tab order, not the active tab) whose
//     relationship is a worksheet; chartsheets, dialog and macro sheets before it are skipped. A
//     hidden (or very hidden) first worksheet is still the one read: hidden is a display setting.
//     sheet_name() and sheet_hidden() tell the caller which sheet was read.
//   * Part paths come from the relationships (_rels/.rels → the workbook part, its .rels → the
//     sheet, sharedStrings and styles), resolved relative to the source part's folder; when a
//     relationship is missing the usual name (xl/sharedStrings.xml, xl/styles.xml) is tried. Both
//     parts are optional. Part names are matched case-insensitively, '\' read as '/'.
//   * Cells, by type: shared strings (t="s": rich-text runs concatenated, phonetic <rPh> runs
//     ignored), inline strings (t="inlineStr", <is>), formula strings (t="str"), booleans (t="b"
//     → "true"/"false"), ISO dates (t="d" → the YYYY-MM-DD part), errors (t="e": #N/A, #DIV/0!
//     ... → "" and counted in error_cells()), numbers (→ AppendNumberText, or AppendExcelDateText
//     when the cell's style has a date format: builtin ids or a custom numFmt per IsDateFormat;
//     <workbookPr date1904="1"> selects the 1904 system; a <v> that is not a number is kept as
//     written). Formulas give their cached <v> and are never evaluated; a formula without a
//     cached value is "". OOXML's _xHHHH_ escapes in text are decoded (_x000D_ → CR), except
//     _x0000_ and unpaired surrogates, which stay as written.
//   * Positions: <row r="7"> and <c r="C7"> give them. A row without r takes the row of its first
//     referenced cell, else the previous row + 1; a cell without r is the next column. Missing
//     cells are "". Rows and the cells of a row must go forward; a cell must lie in its row.
//
// Errors (see table_reader.h for the codes' contract). All are final: Next() keeps returning them.
//   * Open: InvalidArgument for what is not a readable .xlsx workbook, naming the problem:
//     "corrupt XLSX file: ..." (no ZIP directory, duplicate entries, a bad part), "not an XLSX
//     workbook ..." (a ZIP without [Content_Types].xml or without a workbook part), "this is an
//     .xlsb workbook: save as .xlsx or .csv" (likewise .xlsm/.xltm/.xlam macro-enabled workbooks
//     and .ods spreadsheets), "encrypted XLSX file: ...", "the workbook has no worksheet",
//     "workbook has more than 10000000 shared strings". Errors from opening the file itself
//     (NotFound, PermissionDenied ...) pass unchanged.
//   * Container, while reading any part (no row named: the ZIP is at fault, not a row):
//     "workbook is a decompression bomb: ..." when the inflated bytes of all parts pass
//     ReadLimits::max_decompressed_bytes, one part passes its cap (64 MiB for the small parts:
//     workbook, relationships, styles, content types), or a part inflates more than 100 times
//     its compressed size after the first 100 KiB; "corrupt XLSX file: ..." for bad CRCs, damaged
//     deflate data, sizes that disagree with the directory; archives with more than 10,000
//     entries are refused. All InvalidArgument.
//   * XML (any part): a <!DOCTYPE> ("XML with a DOCTYPE is not allowed"), nesting deeper than 64
//     elements, an element with more than 64 attributes, or a single tag, comment or processing
//     instruction longer than max_cell_bytes + 64 KiB, or malformed XML → InvalidArgument. In the
//     sheet these name the row ("row 12: ..."), elsewhere they start "invalid XLSX file: ". A
//     damaged part may show up as malformed XML before its CRC is checked at its end.
//   * Sheet content → InvalidArgument naming the row: a row number past 1048576 or not after the
//     previous row, a cell reference that is malformed, past column XFD, outside its row or not
//     after the previous cell, a shared string index out of range.
//   * Limits → ResourceExhausted naming the row, as for CSV: a non-empty cell past
//     max_columns ("row 9: more than 256 columns (limit 256)"), more than max_rows data rows, a
//     cell longer than max_cell_bytes ("row 9: cell in column 3 longer than ... (limit ...)"; a
//     shared string that long fails only in the row that uses it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ingest/table_reader.h"

namespace nexus::ingest {

// Knobs with safe defaults; tests and the fuzzer shrink them.
struct XlsxOptions {
  size_t chunk_bytes = 64 * 1024;            // inflated sheet bytes parsed per step (min 1)
  int max_entries = 10'000;                  // ZIP entries
  uint64_t max_small_part_bytes = 64 << 20;  // inflated size of workbook, rels, styles, types
  uint64_t ratio_grace_bytes = 100 * 1024;   // the ratio cap applies past this many inflated bytes
  uint64_t max_ratio = 100;                  // inflated / compressed bytes of one part
  int64_t max_shared_strings = 10'000'000;
  int max_xml_depth = 64;
  int max_xml_attributes = 64;
  bool verify_crc = true;  // false only for fuzzing, so mutated parts still reach the parsers
};

class XlsxReader final : public TableReader {
 public:
  // Opens the workbook at `path` and reads everything but the sheet (content types, workbook,
  // relationships, styles, shared strings); the sheet streams through Next().
  static absl::StatusOr<std::unique_ptr<XlsxReader>> Open(const std::string& path,
                                                          const ReadLimits& limits,
                                                          const XlsxOptions& options = {});
  // The same over bytes in memory, which must outlive the reader (tests, fuzzing).
  static absl::StatusOr<std::unique_ptr<XlsxReader>> OpenBuffer(std::string_view data,
                                                                const ReadLimits& limits,
                                                                const XlsxOptions& options = {});
  ~XlsxReader() override;
  XlsxReader(const XlsxReader&) = delete;
  XlsxReader& operator=(const XlsxReader&) = delete;

  absl::StatusOr<bool> Next(Row& row) override;
  std::string_view encoding() const override { return "utf-8"; }

  // Notes for the upload's answer: which sheet was read, whether it is hidden in Excel, and how
  // many cells (so far) held an Excel error value (#N/A, #DIV/0!, ...) and were read as "".
  const std::string& sheet_name() const;
  bool sheet_hidden() const;
  int64_t error_cells() const;

  struct State;  // implementation (xlsx_reader.cc)

 private:
  explicit XlsxReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The TableReader factory used by OpenTable (open_table.h): XlsxReader::Open with default options.
absl::StatusOr<std::unique_ptr<TableReader>> OpenXlsxReader(const std::string& path,
                                                            const ReadLimits& limits);

}  // namespace nexus::ingest

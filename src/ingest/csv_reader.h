// File: ingest/csv_reader.h
//
// A streaming CSV reader (TableReader). It pulls chunks (256 KiB) from a ByteSource and never
// holds the whole file: memory is one buffer (about 1 MiB, the encoding sniff window) that grows
// only to hold twice the longest record, plus the cells of one row. Unquoted fields and quoted
// fields without doubled quotes are returned as views into that buffer; only fields with `""`
// (and, for Windows-1252 files, fields with bytes >= 0x80) are copied, into scratch strings
// reused from row to row. Scanning finds the next delimiter/quote/CR/LF with a 64-byte SSE2
// bitmask, so plain data reads at over 1 GB/s on one core (bench/ingest_bench.cc).
//
// Syntax (RFC 4180, with the leniencies operators' files need):
//   * Records end at CRLF, LF or a lone CR, mixed freely; the last record needs no line end.
//   * A quoted field may contain the delimiter, CR, LF and `""` (one quote). A line end inside
//     quotes does not start a new row: row numbers count records, as a spreadsheet shows them.
//   * Spaces and tabs around a quoted field are ignored (` "a,b" ,` reads `a,b`); the tab is not
//     ignored when it is the delimiter.
//   * Errors (InvalidArgument, naming the row and column): a quote inside an unquoted field
//     (`ab"c`), other text after a closing quote (`"a"b`), a quote never closed before the end of
//     the file (named by the row where that field began), a NUL byte ("binary file?").
//   * Data rows are padded with "" to the header's width; empty cells beyond that width are
//     dropped, non-empty ones are kept (the caller decides: the upload reports them). Cells are
//     not trimmed.
//   * A first line `sep=X` (X one of , ; tab |; any case, as Excel writes it) sets the delimiter
//     and is not a row: the next line is row 1, as in Excel.
//
// Delimiter: CsvOptions::delimiter, else `sep=`, else sniffed from the header record (the first
// record with any text): among the unquoted `;`, tab and `|` in it, the one that occurs most often
// wins when it occurs more often than `,` and than each other candidate; otherwise `,`.
//
// Encoding, decided once before the first row is returned:
//   * UTF-8 BOM → UTF-8, BOM dropped. UTF-16LE/BE BOM → transcoded to UTF-8 while streaming
//     (unpaired surrogates and an odd trailing byte become U+FFFD). No BOM is sniffed for UTF-16;
//     such a file fails on its NUL bytes, as does UTF-32.
//   * Otherwise the first CsvOptions::sniff_bytes (1 MiB) are validated as UTF-8 (strict: no
//     overlongs, surrogates or code points past U+10FFFF). Invalid → the whole file is read as
//     Windows-1252 (WHATWG mapping: 0x80 → €, ..., undefined bytes → C1 controls).
//   * Past the sniff window every record is still validated as it is read. The first record with
//     invalid UTF-8 switches the reader to Windows-1252 for that record and all later ones, and
//     encoding() reports "windows-1252" from then on. Rows returned before the switch were valid
//     UTF-8 and were returned as such (they are mostly ASCII in practice). We do not rewind: the
//     source may be a network stream.
//
// Limits (ReadLimits; ResourceExhausted naming the row): max_rows data rows, max_columns cells
// (trailing empty cells are not counted), max_cell_bytes per cell (UTF-8 bytes after unquoting
// and transcoding). They are checked while the record is still being read: a runaway quoted field
// fails as soon as its raw text passes 2 × max_cell_bytes + 2 bytes (the message then asks "is a
// closing quote missing?"), not at the end of the file. To bound memory on hostile input, a
// record whose raw text passes max_columns × (2 × max_cell_bytes + 3) + 1 MiB bytes (only
// reachable with floods of empty or blank cells) also fails, as "row N: row longer than ...".
//
// Determinism: the same bytes give the same rows, encoding and error however the ByteSource
// chunks them (tested byte by byte and fuzzed). When a record holds several problems, the one
// that starts earliest in the file is reported (ties: NUL byte, then cell length, then row
// length).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ingest/byte_source.h"
#include "ingest/table_reader.h"

namespace nexus::ingest {

struct CsvOptions {
  char delimiter = 0;                // 0: `sep=` line or sniffed from the header; else , ; \t |
  size_t read_bytes = 256 * 1024;    // most bytes asked of the ByteSource per Read (min 64)
  size_t sniff_bytes = 1024 * 1024;  // prefix validated as UTF-8 before the first row
};

class CsvReader final : public TableReader {
 public:
  explicit CsvReader(std::unique_ptr<ByteSource> source, ReadLimits limits = {},
                     CsvOptions options = {});
  ~CsvReader() override;
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  absl::StatusOr<bool> Next(Row& row) override;
  std::string_view encoding() const override;

  // The delimiter in use; 0 until the first call to Next().
  char delimiter() const { return delimiter_; }

 private:
  enum class Encoding { kUtf8, kUtf16Le, kUtf16Be, kWindows1252 };
  enum class Parse { kRecord, kNeedMore, kEnd, kError };
  struct Fixup {  // cell `index` lives at [offset, offset + size) of an arena string
    size_t index;
    size_t offset;
    size_t size;
  };

  absl::Status Start();
  absl::Status FillOnce();
  absl::Status FillTo(size_t available);
  absl::Status Refill();
  void Compact();
  void Grow(size_t capacity);
  void Scan();
  bool DetectDelimiter();
  bool SkipSepLine();

  Parse ParseRecord();
  Parse NeedMore(const char* field, uint64_t cell_limit, size_t column, bool quoted);
  bool AddCell(const char* data, size_t size, size_t column);
  bool AddCellSlow(const char* data, size_t size, size_t column);
  bool AddUnescapedCell(const char* data, size_t size, size_t column);
  Parse Fail(absl::Status status);
  Parse FailAt(const char* at);
  absl::Status NulError() const;
  absl::Status CellTooLongError(size_t column, bool quoted) const;
  absl::Status RowTooLongError() const;
  bool FinishRecord(Row& row);  // false: blank row, or error_ set
  bool TranscodeWindows1252Cells();

  int64_t CurrentRow() const { return record_number_ + 1; }

  std::unique_ptr<ByteSource> source_;
  const ReadLimits limits_;
  const CsvOptions options_;
  const size_t max_columns_;
  const uint64_t max_record_bytes_;
  const uint64_t quoted_cell_limit_;  // 2 * max_cell_bytes + 2: raw bytes of a quoted cell

  // buf_[pos_, end_) holds decoded bytes not yet consumed. buf_ has kPadding extra bytes.
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t pos_ = 0;
  size_t end_ = 0;
  bool eof_ = false;                  // the source is exhausted and everything is decoded into buf_
  size_t scanned_ = 0;                // NUL scan done up to here
  size_t nul_at_;                     // offset of the first NUL in buf_, or npos
  size_t validated_ = 0;              // UTF-8 known valid up to here
  size_t invalid_at_;                 // offset of the first invalid UTF-8 byte, or npos
  size_t record_start_ = 0;           // start of the record ParseRecord is reading
  size_t record_end_ = 0;             // end of the record ParseRecord just found
  const char* scan_block_ = nullptr;  // SpecialFinder's cached 64-byte block of buf_ ...
  uint64_t scan_bits_ = 0;            // ... and the bitmask of its special bytes

  // UTF-16 only: raw bytes read but not yet transcoded (an odd byte, half a surrogate pair).
  std::unique_ptr<char[]> raw_;
  size_t raw_size_ = 0;

  Encoding encoding_ = Encoding::kUtf8;
  char delimiter_ = 0;
  bool started_ = false;
  bool done_ = false;
  bool skip_lf_ = false;  // the previous record ended in CR: a following LF belongs to it
  absl::Status error_;

  int64_t record_number_ = 0;  // rows consumed so far, blank ones included
  int64_t data_rows_ = 0;
  int64_t header_width_ = -1;  // -1 until the header row is read

  std::vector<std::string_view> cells_;
  std::vector<Fixup> fixups_;
  std::string scratch_;     // unescaped quoted fields of the current record
  std::string transcoded_;  // Windows-1252 cells of the current record, as UTF-8
};

}  // namespace nexus::ingest

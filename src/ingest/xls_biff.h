// File: ingest/xls_biff.h
//
// A small BIFF5/BIFF8 scan that fills FreeXL 1.0.6's gaps (xls_child.h), run in the XLS child
// before FreeXL, on the same bytes. FreeXL ignores FORMULA records (formula cells read as empty),
// reports BOOLERR cells as the integers 1/0 (errors included) and does not expose sheet types.
// This scan reads, from the OLE2 container's "Workbook" (or BIFF5 "Book") stream:
//   * the BOUNDSHEET records: the first sheet whose type is "worksheet" (not a chart, macro or
//     VB module sheet) — its index is also FreeXL's sheet index (FreeXL lists every BOUNDSHEET);
//   * in that sheet, BOOLERR cells → "true"/"false", error values (#N/A, ...) → "" (as the XLSX
//     reader does);
//   * number cells (NUMBER, RK, MULRK) whose format IsDateFormat (XF + FORMAT records) → the date
//     (AppendExcelDateText, DATEMODE), and the XF records' format ids, so that FreeXL can be
//     given a copy with every format set to General (see BiffScan);
//   * FORMULA cells → their cached result: numbers as AppendNumberText, or as a date
//     (AppendExcelDateText) when the cell's format IsDateFormat (XF + FORMAT records, DATEMODE);
//     strings from the STRING record that follows (BIFF8 only; CONTINUE records followed);
//     booleans "true"/"false"; errors and empty results "".
// It also screens every record of the stream for strings FreeXL would overrun (BiffScan::overrun).
// Everything is bounds-checked, and chains in the FAT are bounded by the number of sectors (a
// cycle cannot loop forever). The XLS child refuses a file this scan cannot walk (kInvalid)
// before FreeXL sees it: FreeXL is laxer (it reads only the first directory sector, ignores
// broken chains) and that laxity is where the fuzzer found its crashes; an Excel-written file
// always has consistent chains.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nexus::ingest {

struct BiffCell {
  uint32_t row;  // 0-based, as in the records
  uint16_t column;
  std::string text;
};

struct BiffScan {
  int worksheet_index = 0;      // BOUNDSHEET index of the first worksheet
  std::vector<BiffCell> cells;  // replacements for FreeXL's text, sorted by (row, column)
  // File offsets of the bytes of every XF record's format id. Zeroing them (format "General")
  // in the copy FreeXL reads stops FreeXL's own date conversion, which is wrong after 2100 and
  // costs time proportional to the serial (seconds for a column of 9999-12-31): date cells then
  // come from `cells`, decided by IsDateFormat as in the XLSX reader.
  std::vector<size_t> general_format_patches;
  // A FORMAT or LABEL record whose string runs past the record's end: FreeXL 1.0.6 would read
  // past its record buffer (heap over-read found by fuzz/xls_reader_fuzz.cc). Refuse the file.
  bool overrun = false;
};

enum class BiffScanStatus {
  kOk,
  kInvalid,      // the container or the BIFF stream cannot be walked (corrupt or crafted)
  kNoWorksheet,  // BOUNDSHEET records, but none of type worksheet
  kEncrypted,    // a FILEPASS record in the globals
};

// Scans the OLE2 file `data` (the whole file).
BiffScanStatus ScanBiff(const unsigned char* data, size_t size, BiffScan& scan);

}  // namespace nexus::ingest

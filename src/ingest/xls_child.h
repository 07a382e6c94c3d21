// File: ingest/xls_child.h
//
// The FreeXL side of XLS reading. This code runs only inside the nexus-xls-reader helper process
// (xls_child_main.cc), which the server's XlsReader starts for each .xls file, and inside the
// fuzzer: FreeXL has a history of memory-safety bugs (CVE-2017-2923/2924, CVE-2018-7435..7439),
// so the server process never links it. See xls_reader.h for the process model.
//
// What is read (FreeXL 1.0.6):
//   * The file must start with the OLE2 compound file signature D0 CF 11 E0 A1 B1 1A E1 (FreeXL
//     would also read raw BIFF2-4 files; we do not).
//   * Password-protected workbooks are detected before FreeXL runs, by a scan for a BIFF FILEPASS
//     record right after the globals BOF (see FindFilepass in the .cc), and again afterwards from
//     FreeXL's FREEXL_BIFF_PASSWORD info (anything but FREEXL_BIFF_PLAIN; FreeXL before 1.0.6
//     returned the XF count instead of FREEXL_BIFF_OBFUSCATED).
//   * Known FreeXL bugs we screen for before calling it (found by fuzz/xls_reader_fuzz.cc): an
//     OLE2 directory entry whose name length exceeds 64 bytes (FreeXL over-reads its stack).
//   * The first worksheet is read: the BIFF scan (below) finds the first BOUNDSHEET
//     of type worksheet (skipping chart, macro and VB module sheets) and FreeXL reads that sheet
//     (FreeXL lists every BOUNDSHEET, so the indexes agree). Hidden sheets count as sheets. When
//     there is no worksheet at all: "the workbook has no worksheet".
//   * Cells: text (LABEL, LABELSST) as UTF-8; numbers (NUMBER, RK, MULRK) through
//     AppendNumberText (12125551234, not 1.2125551234E10).
//   * FreeXL 1.0.6 ignores FORMULA records, reports BOOLERR cells as the integers 1/0, and turns
//     date-formatted numbers into text itself, with its own format rule, wrongly after 2100-02-28
//     and in time proportional to the serial number (a column of 9999-12-31 costs seconds). So a
//     BIFF scan of ours (xls_biff.h) supplies those cells: booleans "true"/"false", error values ""
//     (as the XLSX reader), formulas by their cached result, and numbers whose format
//     IsDateFormat (cell_format.h, the XLSX reader's rule) as YYYY-MM-DD; FreeXL reads a memfd
//     copy of the file in which every XF's format is General, so it never converts dates. Time-only
//     formats are not dates: such cells read as numbers (0.5), as in the XLSX reader.
//   * A file the scan cannot walk (broken FAT chains, a Workbook stream that does not start with a
//     BIFF5/8 BOF, ...) is refused before FreeXL sees it ("invalid compound file or BIFF
//     structure"), as is one with a string FreeXL would overrun (see xls_biff.h): FreeXL's
//     laxity there is where the fuzzer found its crashes.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "ingest/xls_protocol.h"

namespace nexus::ingest {

// Receives one non-blank row: its 1-based spreadsheet row number and its cells, without trailing
// cells that are exactly empty. Returns false to stop reading (ReadXlsRows then returns kNone).
using XlsRowSink =
    absl::FunctionRef<bool(uint32_t row_number, std::span<const std::string_view> cells)>;

// Reads the first sheet of the .xls file at `path` and calls `sink` for each non-blank row (a row
// is blank when every cell is empty after trimming ASCII whitespace), in row order. Returns
// kind kNone on success.
xls_protocol::ChildError ReadXlsRows(const char* path, XlsRowSink sink);

// Exit codes of the helper besides 0 (success, or an error frame was written).
inline constexpr int kXlsExitUsage = 2;
inline constexpr int kXlsExitOutOfMemory = 3;
inline constexpr int kXlsExitWriteFailed = 4;

// The helper's work: ReadXlsRows, with every row and the final end or error frame written to
// `fd` (xls_protocol.h). Returns the process exit code.
int RunXlsChild(const char* path, int fd);

}  // namespace nexus::ingest

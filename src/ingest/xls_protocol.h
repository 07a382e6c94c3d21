// File: ingest/xls_protocol.h
//
// The byte protocol between the XLS parser child (nexus-xls-reader, ingest/xls_child.h) and the
// parent's XlsReader (ingest/xls_reader.h). The child writes frames to its stdout, a pipe; the
// parent reads them one at a time. All integers are little-endian. Internal to ingest.
//
//   row:   'R' u32 row_number u32 cell_count { u32 size, size bytes of UTF-8 } × cell_count
//          row_number is the 1-based spreadsheet row; rows come in increasing order; blank rows
//          are not sent; trailing cells that are exactly empty are not sent.
//   end:   'E'                              the sheet was read completely
//   error: 'X' u8 kind i32 detail u32 row   reading failed (XlsErrorKind; detail and row as below)
//
// The child never sends text of its own choosing except cell contents: an error is a kind and a
// number, and the parent writes the message (a child whose parser was subverted could otherwise
// put any text in front of the user).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"

namespace nexus::ingest::xls_protocol {

inline constexpr char kRowTag = 'R';
inline constexpr char kEndTag = 'E';
inline constexpr char kErrorTag = 'X';

// Bounds the parent enforces on frames (BIFF8 allows 65,536 rows × 256 columns; FreeXL reads
// the 32-bit row and 16-bit column counts of DIMENSION records, so accept their full range).
inline constexpr uint32_t kMaxCellsPerRow = 65'535;

enum class ErrorKind : uint8_t {
  kNone = 0,
  kNotOle2 = 1,        // the file does not start with the OLE2 compound file signature
  kEncrypted = 2,      // a FILEPASS record: the workbook is password-protected
  kFreexl = 3,         // freexl_* failed; detail = its FREEXL_* error code
  kNoSheet = 4,        // the workbook has no sheet at all
  kCell = 5,           // freexl_get_cell_value failed; detail = code, row = the spreadsheet row
  kOpen = 6,           // the child could not open/read the file; detail = errno
  kWrite = 7,          // (child only: writing to the pipe failed; never reaches the parent)
  kBadDirectory = 8,   // an OLE2 directory entry FreeXL would overrun (see xls_child.cc)
  kBadRecord = 9,      // a BIFF record FreeXL would overrun (xls_biff.h)
  kBadStructure = 10,  // the OLE2 container or BIFF stream cannot be walked (xls_biff.h)
  kNoWorksheet = 11,   // sheets, but no worksheet (only charts, macros, modules)
};

struct ChildError {
  ErrorKind kind = ErrorKind::kNone;
  int32_t detail = 0;
  uint32_t row = 0;
};

// What FreeXL's error codes (freexl.h, FREEXL_*) mean, for messages. Codes are stable API.
inline const char* FreexlErrorText(int32_t code) {
  switch (code) {
    case -1:
      return "file not found";
    case -2:
      return "no workbook handle";
    case -3:
      return "invalid workbook handle";
    case -4:
      return "out of memory";
    case -7:
      return "invalid compound file header";
    case -8:
      return "compound file read error";
    case -9:
      return "compound file seek error";
    case -10:
      return "invalid compound file signature";
    case -11:
      return "invalid sector size";
    case -12:
      return "empty FAT chain";
    case -13:
      return "illegal FAT entry";
    case -14:
      return "invalid BOF record";
    case -15:
      return "invalid shared string table";
    case -16:
      return "shared string index out of range";
    case -17:
      return "no Workbook stream";
    case -18:
      return "illegal sheet index";
    case -19:
      return "no active sheet";
    case -20:
      return "invalid character";
    case -21:
      return "unsupported code page";
    case -22:
      return "cell outside the sheet";
    case -23:
      return "invalid RK number";
    case -24:
      return "invalid mini stream";
    case -25:
      return "illegal mini FAT entry";
    case -26:
      return "severely corrupted (crafted?) file";
    default:
      return "unknown FreeXL error";
  }
}

inline std::string ChildErrorText(const ChildError& error) {
  switch (error.kind) {
    case ErrorKind::kNone:
      return "no error";
    case ErrorKind::kNotOle2:
      return "not an OLE2 compound file";
    case ErrorKind::kEncrypted:
      return "encrypted workbook";
    case ErrorKind::kFreexl:
      return std::string(FreexlErrorText(error.detail)) + " (FreeXL " +
             std::to_string(error.detail) + ")";
    case ErrorKind::kNoSheet:
      return "the workbook has no sheet";
    case ErrorKind::kCell:
      return "unreadable cell in row " + std::to_string(error.row) + ": " +
             FreexlErrorText(error.detail);
    case ErrorKind::kOpen:
      return std::string("cannot read the file: ") + std::strerror(error.detail);
    case ErrorKind::kWrite:
      return "pipe write failed";
    case ErrorKind::kBadDirectory:
      return "invalid compound file directory entry";
    case ErrorKind::kBadRecord:
      return "invalid string in a BIFF record";
    case ErrorKind::kBadStructure:
      return "invalid compound file or BIFF structure";
    case ErrorKind::kNoWorksheet:
      return "the workbook has no worksheet";
  }
  return "unknown error kind " + std::to_string(static_cast<int>(error.kind));
}

// The status the reader returns for a child error.
inline absl::Status ChildErrorStatus(const ChildError& error) {
  if (error.kind == ErrorKind::kEncrypted) {
    return absl::InvalidArgumentError("encrypted workbook: remove the password and upload again");
  }
  return absl::InvalidArgumentError("corrupt or unreadable XLS file (" + ChildErrorText(error) +
                                    ")");
}

inline void PutU32(std::string& out, uint32_t value) {
  const char bytes[4] = {static_cast<char>(value), static_cast<char>(value >> 8),
                         static_cast<char>(value >> 16), static_cast<char>(value >> 24)};
  out.append(bytes, 4);
}

inline uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | static_cast<uint32_t>(u[1]) << 8 |
         static_cast<uint32_t>(u[2]) << 16 | static_cast<uint32_t>(u[3]) << 24;
}

}  // namespace nexus::ingest::xls_protocol

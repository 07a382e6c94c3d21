// File: ingest/format_sniff.h
//
// Which reader an uploaded file goes to (SPEC §4 "file" field): the extension of the uploaded
// file name says what the file should be, and its first bytes must agree. Anything else is
// InvalidArgument "unsupported or invalid file type: ..." (the HTTP layer answers 400), with a
// message that tells the user what to do.
//
//   .csv   any content except a known binary signature: ZIP (PK\3\4, PK\5\6), OLE2
//          (D0 CF 11 E0 A1 B1 1A E1), PNG, PDF, ELF, GZIP. An empty .csv is accepted (the reader
//          then reports the missing header row).
//   .xlsx  a ZIP local file header "PK\3\4". "PK\5\6" (an empty archive) is refused. An OLE2
//          file named .xlsx is either a password-protected OOXML workbook (Office stores those
//          as OLE2 with an "EncryptionInfo" stream) → "encrypted workbook: remove the password and
//          upload again", or an old .xls renamed → "rename it to .xls or save as .xlsx".
//   .xls   an OLE2 compound file; one with an "EncryptionInfo" stream (an encrypted .xlsx
//          renamed) → "encrypted workbook ...". Password-protected real .xls files are found by
//          the XLS reader itself (FILEPASS record).
//   .xlsm .xlsb .ods .numbers → "save as .xlsx or .csv". Any other extension → refused.
//
// The extension is matched case-insensitively on the last '.' of the base name (after the last
// '/' or '\'). The "EncryptionInfo" heuristic: OLE2 directory entries are 128-byte records that
// start with the UTF-16LE stream name and sit in sectors at 512-byte boundaries, so we read the
// file at `path_for_deeper_checks` and look for the 28 bytes "E\0n\0c\0...o\0" at every 128-byte
// aligned offset past the 512-byte header. An unaligned match (a cell's text) does not count.
// Only OLE2 files are read this way.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace nexus::ingest {

enum class FileFormat { kCsv, kXlsx, kXls };

// The format of an upload named `filename` whose content starts with `first_bytes` (at least 8
// bytes of the file start, or the whole file when it is shorter; more is fine). The OLE2 checks
// read the file at `path_for_deeper_checks` (skipped when it is empty); an I/O error there is
// returned as is.
absl::StatusOr<FileFormat> DetectFileFormat(std::string_view filename, std::string_view first_bytes,
                                            const std::string& path_for_deeper_checks);

// True when the OLE2 file at `path` has a directory entry named "EncryptionInfo" (see above).
absl::StatusOr<bool> HasEncryptionInfoStream(const std::string& path);

}  // namespace nexus::ingest

// File: ingest/open_table.h
//
// One entry point for uploads: pick the reader for a file by its name and first bytes
// (format_sniff.h) and open it. CSV → CsvReader over a FileByteSource; XLSX → OpenXlsxReader;
// XLS → OpenXlsReader (a child process; see xls_reader.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ingest/table_reader.h"

namespace nexus::ingest {

// Opens the uploaded file stored at `path`, whose original name was `filename`. Errors:
// InvalidArgument "unsupported or invalid file type: ..." (or "encrypted workbook: ...") from
// DetectFileFormat; otherwise whatever the chosen reader's open returns (NotFound etc. for the
// path). Parse errors come from Next().
absl::StatusOr<std::unique_ptr<TableReader>> OpenTable(const std::string& path,
                                                       std::string_view filename,
                                                       const ReadLimits& limits);

}  // namespace nexus::ingest

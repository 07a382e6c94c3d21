// File: bench/xlsx_contacts_gen.h
//
// The synthetic contact list of contacts_gen.h (same rows, same seed → same text) as an .xlsx
// workbook written by libxlsxwriter, for the XLSX reader's benchmarks. Strings go through the
// shared strings table (libxlsxwriter's default, not constant_memory). Typed as a spreadsheet
// user would have it: every third phone number that is only digits once punctuation is removed
// is a numeric cell (2125550123), priority is a number, empty notes are no cell at all.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace nexus::bench {

absl::Status WriteContactsXlsx(const std::string& path, int64_t rows, uint64_t seed = 1);

}  // namespace nexus::bench

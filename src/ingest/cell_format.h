// File: ingest/cell_format.h
//
// Turning typed workbook cells (XLSX and XLS) into the text an upload sees, per SPEC §4:
// numbers without exponent or trailing ".0" (integers up to 15 significant digits exactly, as
// Excel keeps them: 12125551234, not 1.2125551234E10), dates as YYYY-MM-DD, booleans as
// true/false. Shared by every workbook reader so the same sheet gives the same text whatever the
// format. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace nexus::ingest {

// Appends the text of a numeric cell to `out`: integral values with |v| < 1e15 as plain integers;
// other finite values as the shortest decimal that round-trips at 15 significant digits, without
// exponent ("0.000123", "1234.5"); non-finite values as "" (Excel cannot store them).
void AppendNumberText(double value, std::string& out);

// True when a cell with number format `builtin_id` (the numFmtId of styles.xml, or the XLS
// format index) or custom format code `format_code` displays a date: built-in ids 14-22, 27-36,
// 45-47, 50-58, or a code containing y, m, d (not inside quotes, brackets or after '\') and not
// only a time/elapsed format.
bool IsDateFormat(int builtin_id, std::string_view format_code);

// Appends the date of an Excel serial day number as YYYY-MM-DD (the time of day is dropped).
// `date1904` selects the 1904 date system. Excel's fictitious 1900-02-29 (serial 60) is kept as
// "1900-02-29"; serials below 1 (1900 system) or outside 1900..9999 fall back to the number text.
void AppendExcelDateText(double serial, bool date1904, std::string& out);

}  // namespace nexus::ingest

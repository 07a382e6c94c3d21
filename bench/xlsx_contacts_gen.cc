#include "bench/xlsx_contacts_gen.h"

#include <xlsxwriter.h>

#include <memory>
#include <string>
#include <string_view>

#include "bench/contacts_gen.h"
#include "fmt/format.h"
#include "ingest/byte_source.h"
#include "ingest/csv_reader.h"

namespace nexus::bench {
namespace {

// The digits of a phone spelling, when it has 10 or 11 of them and nothing but punctuation.
std::string NumericPhone(std::string_view phone) {
  std::string digits;
  for (const char c : phone) {
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' && c != '+') {
      return "";
    }
  }
  return digits.size() == 10 || digits.size() == 11 ? digits : "";
}

}  // namespace

absl::Status WriteContactsXlsx(const std::string& path, int64_t rows, uint64_t seed) {
  ingest::ReadLimits limits;
  limits.max_rows = rows + 1;
  ingest::CsvReader csv(std::make_unique<ingest::StringByteSource>(ContactsCsv(rows, seed)),
                        limits);
  lxw_workbook* workbook = workbook_new(path.c_str());
  if (workbook == nullptr) return absl::UnavailableError(fmt::format("cannot create {}", path));
  lxw_worksheet* sheet = workbook_add_worksheet(workbook, "Contacts");
  ingest::Row row;
  lxw_row_t r = 0;
  for (;;) {
    absl::StatusOr<bool> more = csv.Next(row);
    if (!more.ok()) {
      workbook_close(workbook);
      return more.status();
    }
    if (!*more) break;
    for (size_t c = 0; c < row.cells.size(); ++c) {
      const std::string cell(row.cells[c]);
      const auto col = static_cast<lxw_col_t>(c);
      if (cell.empty()) continue;
      const std::string digits = r > 0 && c == 0 && r % 3 == 0 ? NumericPhone(cell) : "";
      if (!digits.empty()) {
        worksheet_write_number(sheet, r, col, std::stod(digits), nullptr);
      } else if (r > 0 && c == 4) {  // priority
        worksheet_write_number(sheet, r, col, std::stod(cell), nullptr);
      } else {
        worksheet_write_string(sheet, r, col, cell.c_str(), nullptr);
      }
    }
    ++r;
  }
  if (workbook_close(workbook) != LXW_NO_ERROR) {
    return absl::UnavailableError(fmt::format("cannot write {}", path));
  }
  return absl::OkStatus();
}

}  // namespace nexus::bench

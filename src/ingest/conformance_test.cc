// The same sheet saved in every supported format must read as the same table: the same cell
// text (numbers without exponent or ".0", dates as YYYY-MM-DD, booleans as true/false), the
// same row numbers, the same blank-row handling, the same limit errors. Each format is one entry
// of kFormats; add a format by adding a writer of the sheet below in that format.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xlsxwriter.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ingest/byte_source.h"
#include "ingest/conformance_test_support.h"
#include "ingest/csv_reader.h"
#include "ingest/xls_reader.h"
#include "ingest/xlsx_reader.h"
#include "ingest/xlsx_test_util.h"

namespace nexus::ingest {
namespace {

using ::nexus::ingest::testing::ReadResult;
using ::nexus::ingest::testing::ReadToEnd;
using ::nexus::ingest::testing::TempPath;
using ::testing::ElementsAre;

// The sheet, as a spreadsheet shows it (row: cells), with typed cells where a workbook has types:
//   1: phoneNumber | name          | amount | signup             | vip   | notes
//   2: 12125551234 | O'Brien, Zoë  | 1.5    | 2023-03-15 (date)  | TRUE  | first
//   3: (blank)
//   4: +1 646 555 0199 | José      | -3.25  | 2024-02-29 (date)  | FALSE |
//   5: 6465550100  | Li            | 0.1+0.2 | 1999-12-31 (date) | TRUE  | two\nlines
//   6: (blank: only spaces)
//   7:             |               |        |                    |       | orphan note
const std::vector<std::vector<std::string>> kExpectedRows = {
    {"phoneNumber", "name", "amount", "signup", "vip", "notes"},
    {"12125551234", "O'Brien, Zoë", "1.5", "2023-03-15", "true", "first"},
    {"+1 646 555 0199", "José", "-3.25", "2024-02-29", "false", ""},
    {"6465550100", "Li", "0.3", "1999-12-31", "true", "two\nlines"},
    {"", "", "", "", "", "orphan note"},
};
const std::vector<int64_t> kExpectedNumbers = {1, 2, 4, 5, 7};

using Opener =
    std::function<absl::StatusOr<std::unique_ptr<TableReader>>(const ReadLimits& limits)>;

Opener Csv() {
  const std::string path = TempPath("sheet.csv");
  testing::WriteFileBytes(path,
                          "phoneNumber,name,amount,signup,vip,notes\r\n"
                          "12125551234,\"O'Brien, Zoë\",1.5,2023-03-15,true,first\r\n"
                          ",,,,,\r\n"
                          "+1 646 555 0199,José,-3.25,2024-02-29,false,\r\n"
                          "6465550100,Li,0.3,1999-12-31,true,\"two\nlines\"\r\n"
                          "  , ,,,,\r\n"
                          ",,,,,orphan note\r\n");
  return [path](const ReadLimits& limits) -> absl::StatusOr<std::unique_ptr<TableReader>> {
    absl::StatusOr<std::unique_ptr<FileByteSource>> source = FileByteSource::Open(path);
    if (!source.ok()) return source.status();
    return std::unique_ptr<TableReader>(new CsvReader(std::move(*source), limits));
  };
}

Opener Xlsx() {
  const std::string path = TempPath("sheet.xlsx");
  lxw_workbook* wb = workbook_new(path.c_str());
  lxw_worksheet* ws = workbook_add_worksheet(wb, nullptr);
  lxw_format* date = workbook_add_format(wb);
  format_set_num_format(date, "yyyy-mm-dd");
  lxw_format* builtin_date = workbook_add_format(wb);
  format_set_num_format_index(builtin_date, 14);
  const char* header[] = {"phoneNumber", "name", "amount", "signup", "vip", "notes"};
  for (int c = 0; c < 6; ++c) worksheet_write_string(ws, 0, c, header[c], nullptr);
  worksheet_write_number(ws, 1, 0, 12125551234.0, nullptr);
  worksheet_write_string(ws, 1, 1, "O'Brien, Zoë", nullptr);
  worksheet_write_number(ws, 1, 2, 1.5, nullptr);
  lxw_datetime d1 = {2023, 3, 15, 0, 0, 0};
  worksheet_write_datetime(ws, 1, 3, &d1, date);
  worksheet_write_boolean(ws, 1, 4, 1, nullptr);
  worksheet_write_string(ws, 1, 5, "first", nullptr);
  worksheet_write_blank(ws, 2, 2, date);  // styled but empty: still a blank row
  worksheet_write_string(ws, 3, 0, "+1 646 555 0199", nullptr);
  worksheet_write_string(ws, 3, 1, "José", nullptr);
  worksheet_write_number(ws, 3, 2, -3.25, nullptr);
  lxw_datetime d2 = {2024, 2, 29, 18, 45, 0};  // the time of day is dropped
  worksheet_write_datetime(ws, 3, 3, &d2, builtin_date);
  worksheet_write_boolean(ws, 3, 4, 0, nullptr);
  worksheet_write_number(ws, 4, 0, 6465550100.0, nullptr);
  worksheet_write_string(ws, 4, 1, "Li", nullptr);
  worksheet_write_formula_num(ws, 4, 2, "=0.1+0.2", nullptr, 0.1 + 0.2);
  lxw_datetime d3 = {1999, 12, 31, 0, 0, 0};
  worksheet_write_datetime(ws, 4, 3, &d3, date);
  worksheet_write_boolean(ws, 4, 4, 1, nullptr);
  worksheet_write_string(ws, 4, 5, "two\nlines", nullptr);
  worksheet_write_string(ws, 5, 0, "  ", nullptr);
  worksheet_write_string(ws, 5, 1, " ", nullptr);
  worksheet_write_string(ws, 6, 5, "orphan note", nullptr);
  EXPECT_EQ(workbook_close(wb), LXW_NO_ERROR);
  return [path](const ReadLimits& limits) { return OpenXlsxReader(path, limits); };
}

// The same sheet as BIFF8, made by tests/data/xls/make_fixtures.py (xlwt cannot run here): the
// 0.1+0.2 formula carries its cached value, booleans are BOOLERR records, row 3 a styled BLANK.
Opener Xls() {
  return [](const ReadLimits& limits) {
    XlsOptions options;
    options.helper_path = NEXUS_XLS_HELPER;
    return OpenXlsReader(NEXUS_XLS_TEST_DATA "/conformance.xls", limits, options);
  };
}

struct Format {
  const char* name;
  Opener (*make)();
};

const Format kFormats[] = {{"csv", Csv}, {"xlsx", Xlsx}, {"xls", Xls}};

class ConformanceTest : public ::testing::TestWithParam<Format> {};

TEST_P(ConformanceTest, SameTable) {
  const Opener open = GetParam().make();
  absl::StatusOr<std::unique_ptr<TableReader>> reader = open(ReadLimits{});
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<int64_t> numbers;
  EXPECT_EQ(testing::ReadAll(**reader, &numbers), kExpectedRows);
  EXPECT_EQ(numbers, kExpectedNumbers);
  EXPECT_EQ((*reader)->encoding(), "utf-8");
}

TEST_P(ConformanceTest, SameLimitErrors) {
  const Opener open = GetParam().make();
  ReadLimits rows;
  rows.max_rows = 2;
  absl::StatusOr<std::unique_ptr<TableReader>> reader = open(rows);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ReadResult result = ReadToEnd(**reader);
  EXPECT_EQ(result.rows.size(), 3u);
  EXPECT_EQ(result.status, absl::ResourceExhaustedError("row 5: more than 2 data rows (limit 2)"));

  ReadLimits columns;
  columns.max_columns = 5;
  reader = open(columns);
  ASSERT_TRUE(reader.ok()) << reader.status();
  result = ReadToEnd(**reader);
  EXPECT_THAT(result.numbers, ElementsAre());
  EXPECT_EQ(result.status, absl::ResourceExhaustedError("row 1: more than 5 columns (limit 5)"));

  ReadLimits cells;
  cells.max_cell_bytes = 10;
  reader = open(cells);
  ASSERT_TRUE(reader.ok()) << reader.status();
  result = ReadToEnd(**reader);
  EXPECT_THAT(result.numbers, ElementsAre());
  EXPECT_EQ(result.status, absl::ResourceExhaustedError(
                               "row 1: cell in column 1 longer than 10 bytes (limit 10)"));
}

INSTANTIATE_TEST_SUITE_P(Formats, ConformanceTest, ::testing::ValuesIn(kFormats),
                         [](const ::testing::TestParamInfo<Format>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace nexus::ingest

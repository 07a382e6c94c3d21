#include "ingest/xlsx_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xlsxwriter.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "ingest/conformance_test_support.h"
#include "ingest/xlsx_test_util.h"

namespace nexus::ingest {
namespace {

using ::nexus::ingest::testing::ReadResult;
using ::nexus::ingest::testing::ReadToEnd;
using ::nexus::ingest::testing::SharedStringsXml;
using ::nexus::ingest::testing::SheetXml;
using ::nexus::ingest::testing::StylesXml;
using ::nexus::ingest::testing::TempPath;
using ::nexus::ingest::testing::XlsxFixture;
using ::nexus::ingest::testing::ZipFileEntry;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Rows = std::vector<std::vector<std::string>>;

// Opens and reads `path`; an Open error lands in `status` like a Next() error.
ReadResult ReadXlsx(const std::string& path, const ReadLimits& limits = {},
                    const XlsxOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<XlsxReader>> reader = XlsxReader::Open(path, limits, options);
  if (!reader.ok()) return ReadResult{{}, {}, reader.status()};
  EXPECT_EQ((*reader)->encoding(), "utf-8");
  return ReadToEnd(**reader);
}

ReadResult ReadFixture(const XlsxFixture& fixture, const ReadLimits& limits = {},
                       const XlsxOptions& options = {}) {
  const std::string path = TempPath("fixture.xlsx");
  const absl::Status written = fixture.Write(path);
  EXPECT_TRUE(written.ok()) << written;
  return ReadXlsx(path, limits, options);
}

// Parts stored, not deflated: the XML-shape tests below are too repetitive for the ratio cap.
ReadResult ReadSheet(std::string_view rows, std::vector<std::string> shared = {},
                     std::string styles = "", const ReadLimits& limits = {}) {
  XlsxFixture fixture;
  fixture.stored = true;
  fixture.sheet = SheetXml(rows);
  if (!shared.empty()) fixture.shared_strings = SharedStringsXml(shared);
  fixture.styles = std::move(styles);
  return ReadFixture(fixture, limits);
}

// Builds a workbook with libxlsxwriter: `fill` writes the first worksheet.
std::string WriteWithXlsxwriter(const std::function<void(lxw_workbook*, lxw_worksheet*)>& fill) {
  const std::string path = TempPath("lxw.xlsx");
  lxw_workbook* workbook = workbook_new(path.c_str());
  EXPECT_NE(workbook, nullptr);
  lxw_worksheet* sheet = workbook_add_worksheet(workbook, nullptr);
  fill(workbook, sheet);
  EXPECT_EQ(workbook_close(workbook), LXW_NO_ERROR);
  return path;
}

// Asserts a hostile input fails with `code` and `message`, quickly.
void ExpectRefused(const std::function<ReadResult()>& read, absl::StatusCode code,
                   std::string_view message) {
  const auto start = std::chrono::steady_clock::now();
  const ReadResult result = read();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.status.code(), code) << result.status;
  EXPECT_THAT(std::string(result.status.message()), HasSubstr(std::string(message)));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

void ExpectSheetRefused(std::string_view rows, std::string_view message,
                        std::vector<std::string> shared = {}) {
  ExpectRefused([&] { return ReadSheet(rows, shared); }, absl::StatusCode::kInvalidArgument,
                message);
}

// ---- Workbooks written by libxlsxwriter ---------------------------------------------------------

TEST(XlsxReader, ReadsEveryCellType) {
  const std::string path = WriteWithXlsxwriter([](lxw_workbook* wb, lxw_worksheet* ws) {
    lxw_format* iso = workbook_add_format(wb);
    format_set_num_format(iso, "yyyy-mm-dd");
    lxw_format* builtin = workbook_add_format(wb);
    format_set_num_format_index(builtin, 14);  // m/d/yyyy
    lxw_format* european = workbook_add_format(wb);
    format_set_num_format(european, "dd/mm/yyyy hh:mm");
    lxw_format* money = workbook_add_format(wb);
    format_set_num_format(money, "#,##0.00");
    const char* header[] = {"phoneNumber", "name", "amount", "date", "active", "total"};
    for (int c = 0; c < 6; ++c) worksheet_write_string(ws, 0, c, header[c], nullptr);
    worksheet_write_number(ws, 1, 0, 12125551234.0, nullptr);
    worksheet_write_string(ws, 1, 1, "Zoë \"Z\" O'Brien, Jr.", nullptr);
    worksheet_write_number(ws, 1, 2, 1.5, money);
    lxw_datetime date = {2023, 3, 15, 0, 0, 0};
    worksheet_write_datetime(ws, 1, 3, &date, iso);
    worksheet_write_boolean(ws, 1, 4, 1, nullptr);
    worksheet_write_formula_num(ws, 1, 5, "=C2*2", nullptr, 3);
    worksheet_write_string(ws, 2, 0, "+1 (212) 555-0100", nullptr);
    worksheet_write_string(ws, 2, 1, "José", nullptr);
    worksheet_write_number(ws, 2, 2, 0.1 + 0.2, nullptr);
    lxw_datetime afternoon = {2024, 2, 29, 15, 30, 0};
    worksheet_write_datetime(ws, 2, 3, &afternoon, european);
    worksheet_write_boolean(ws, 2, 4, 0, nullptr);
    worksheet_write_formula_str(ws, 2, 5, "=B3&\"!\"", nullptr, "José!");
    worksheet_write_number(ws, 3, 0, -3.25, nullptr);
    worksheet_write_number(ws, 3, 2, 123456789012345678.0, nullptr);
    worksheet_write_datetime(ws, 3, 3, &date, builtin);
    worksheet_write_number(ws, 3, 4, 1e15, nullptr);
  });
  std::vector<int64_t> numbers;
  absl::StatusOr<std::unique_ptr<XlsxReader>> reader = XlsxReader::Open(path, {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  const Rows rows = testing::ReadAll(**reader, &numbers);
  EXPECT_THAT(
      rows,
      ElementsAre(
          ElementsAre("phoneNumber", "name", "amount", "date", "active", "total"),
          ElementsAre("12125551234", "Zoë \"Z\" O'Brien, Jr.", "1.5", "2023-03-15", "true", "3"),
          ElementsAre("+1 (212) 555-0100", "José", "0.3", "2024-02-29", "false", "José!"),
          ElementsAre("-3.25", "", "123456789012346000", "2023-03-15", "1000000000000000", "")));
  EXPECT_THAT(numbers, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ((*reader)->sheet_name(), "Sheet1");
  EXPECT_FALSE((*reader)->sheet_hidden());
  EXPECT_EQ((*reader)->error_cells(), 0);
}

TEST(XlsxReader, BlankRowsAreSkippedButNumbered) {
  const std::string path = WriteWithXlsxwriter([](lxw_workbook* wb, lxw_worksheet* ws) {
    lxw_format* bordered = workbook_add_format(wb);
    format_set_border(bordered, LXW_BORDER_THIN);
    worksheet_write_string(ws, 2, 0, "phone", nullptr);  // header on row 3
    worksheet_write_string(ws, 2, 2, "name", nullptr);   // B3 missing: an empty header cell
    worksheet_write_string(ws, 3, 0, "1", nullptr);
    worksheet_write_blank(ws, 4, 0, bordered);         // styled but empty: blank row 5
    worksheet_write_string(ws, 5, 1, "   ", nullptr);  // only spaces: blank row 6
    worksheet_write_string(ws, 7, 2, "x", nullptr);    // sparse: A8, B8 missing
    worksheet_write_string(ws, 8, 0, "2", nullptr);
    worksheet_write_string(ws, 8, 4, "extra", nullptr);  // past the header's width
    worksheet_write_string(ws, 8, 3, " ", nullptr);
  });
  const ReadResult result = ReadXlsx(path);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows,
              ElementsAre(ElementsAre("phone", "", "name"), ElementsAre("1", "", ""),
                          ElementsAre("", "", "x"), ElementsAre("2", "", "", " ", "extra")));
  EXPECT_THAT(result.numbers, ElementsAre(3, 4, 8, 9));
}

TEST(XlsxReader, HeaderTrailingEmptyCellsAndDataPadding) {
  const ReadResult result = ReadSheet(
      "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c>"
      "<c r=\"C1\" t=\"s\"><v>2</v></c></row>"
      "<row r=\"2\"><c r=\"A2\"><v>7</v></c><c r=\"D2\" t=\"s\"><v>2</v></c></row>",
      {"a", "b", " "});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, ElementsAre(ElementsAre("a", "b"), ElementsAre("7", "")));
}

TEST(XlsxReader, RichTextAndControlCharacters) {
  const std::string path = WriteWithXlsxwriter([](lxw_workbook* wb, lxw_worksheet* ws) {
    lxw_format* bold = workbook_add_format(wb);
    format_set_bold(bold);
    lxw_rich_string_tuple first = {bold, const_cast<char*>("Hello ")};
    lxw_rich_string_tuple second = {nullptr, const_cast<char*>("world")};
    lxw_rich_string_tuple* fragments[] = {&first, &second, nullptr};
    worksheet_write_string(ws, 0, 0, "text", nullptr);
    worksheet_write_rich_string(ws, 1, 0, fragments, nullptr);
    // libxlsxwriter 1.1.4 does not escape a literal "_x0041_", so Excel shows "A" too.
    worksheet_write_string(ws, 2, 0, "bell\x07 tab\t line\nbreak _x0041_", nullptr);
  });
  const ReadResult result = ReadXlsx(path);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, ElementsAre(ElementsAre("text"), ElementsAre("Hello world"),
                                       ElementsAre("bell\x07 tab\t line\nbreak A")));
}

TEST(XlsxReader, FirstWorksheetEvenWhenHidden) {
  const std::string path = TempPath("hidden.xlsx");
  lxw_workbook* wb = workbook_new(path.c_str());
  lxw_worksheet* first = workbook_add_worksheet(wb, "Secret");
  lxw_worksheet* second = workbook_add_worksheet(wb, "Visible");
  worksheet_write_string(first, 0, 0, "from the hidden sheet", nullptr);
  worksheet_write_string(second, 0, 0, "from the second sheet", nullptr);
  worksheet_activate(second);
  worksheet_hide(first);
  ASSERT_EQ(workbook_close(wb), LXW_NO_ERROR);

  absl::StatusOr<std::unique_ptr<XlsxReader>> reader = XlsxReader::Open(path, {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_THAT(testing::ReadAll(**reader), ElementsAre(ElementsAre("from the hidden sheet")));
  EXPECT_EQ((*reader)->sheet_name(), "Secret");
  EXPECT_TRUE((*reader)->sheet_hidden());
}

TEST(XlsxReader, EmptyWorkbookHasNoRows) {
  const std::string path = WriteWithXlsxwriter([](lxw_workbook*, lxw_worksheet*) {});
  const ReadResult result = ReadXlsx(path);
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, IsEmpty());
}

TEST(XlsxReader, ChunkSizeDoesNotChangeTheResult) {
  const std::string path = WriteWithXlsxwriter([](lxw_workbook* wb, lxw_worksheet* ws) {
    lxw_format* iso = workbook_add_format(wb);
    format_set_num_format(iso, "yyyy-mm-dd");
    for (int r = 0; r < 400; r += (r % 7 == 3 ? 2 : 1)) {
      worksheet_write_string(ws, r, 0, fmt::format("row {} é", r).c_str(), nullptr);
      worksheet_write_number(ws, r, 1, r * 1.25, nullptr);
      worksheet_write_number(ws, r, 2, 45000 + r, iso);
      if (r % 5 == 0) worksheet_write_string(ws, r, 4, std::string(r, 'x').c_str(), nullptr);
    }
  });
  const ReadResult reference = ReadXlsx(path);
  ASSERT_TRUE(reference.status.ok()) << reference.status;
  ASSERT_GT(reference.rows.size(), 300u);
  for (const size_t chunk : {size_t{1}, size_t{3}, size_t{100}, size_t{4096}}) {
    XlsxOptions options;
    options.chunk_bytes = chunk;
    const ReadResult result = ReadXlsx(path, {}, options);
    ASSERT_TRUE(result.status.ok()) << result.status;
    EXPECT_EQ(result.rows, reference.rows) << chunk;
    EXPECT_EQ(result.numbers, reference.numbers) << chunk;
  }
}

TEST(XlsxReader, LimitsNameTheRow) {
  const std::string path = WriteWithXlsxwriter([](lxw_workbook*, lxw_worksheet* ws) {
    worksheet_write_string(ws, 0, 0, "h", nullptr);
    for (int r = 1; r <= 5; ++r) worksheet_write_string(ws, r, 0, "v", nullptr);
    worksheet_write_string(ws, 6, 3, "wide", nullptr);
    worksheet_write_string(ws, 6, 9, " ", nullptr);  // blank cells past the limit don't count
    worksheet_write_string(ws, 7, 0, std::string(40, 'y').c_str(), nullptr);
  });
  ReadLimits rows;
  rows.max_rows = 4;
  ReadResult result = ReadXlsx(path, rows);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(result.status.message(), "row 6: more than 4 data rows (limit 4)");
  EXPECT_EQ(result.rows.size(), 5u);

  ReadLimits columns;
  columns.max_columns = 3;
  result = ReadXlsx(path, columns);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(result.status.message(), "row 7: more than 3 columns (limit 3)");
  EXPECT_EQ(result.rows.size(), 6u);

  ReadLimits cell;
  cell.max_cell_bytes = 32;
  result = ReadXlsx(path, cell);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(result.status.message(), "row 8: cell in column 1 longer than 32 bytes (limit 32)");
  EXPECT_EQ(result.rows.size(), 7u);
}

// ---- Hand-written parts ---------------------------------------------------------------------

TEST(XlsxReader, InlineStringsRichRunsAndPhoneticGuides) {
  const ReadResult result = ReadSheet(
      "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>name</t></is></c></row>"
      "<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><r><rPr><b/></rPr><t>Ta</t></r>"
      "<r><t xml:space=\"preserve\">ro </t></r><rPh sb=\"0\" eb=\"1\"><t>たろう</t></rPh>"
      "<phoneticPr fontId=\"1\"/></is></c></row>"
      "<row r=\"3\"><c r=\"A3\" t=\"s\"><v>0</v></c></row>",
      {});
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);  // no shared strings
  EXPECT_THAT(result.rows, ElementsAre(ElementsAre("name"), ElementsAre("Taro ")));

  XlsxFixture fixture;
  fixture.sheet = SheetXml("<row><c t=\"s\"><v>0</v></c><c t=\"s\"><v>1</v></c></row>");
  fixture.shared_strings =
      "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
      "<si><r><t>Ab</t></r><r><rPr><i/></rPr><t>c</t></r><rPh><t>x</t></rPh></si>"
      "<si><t/></si></sst>";
  const ReadResult shared = ReadFixture(fixture);
  ASSERT_TRUE(shared.status.ok()) << shared.status;
  EXPECT_THAT(shared.rows, ElementsAre(ElementsAre("Abc")));
}

TEST(XlsxReader, TypedCells) {
  XlsxFixture fixture;
  fixture.sheet = SheetXml(
      "<row r=\"1\"><c r=\"A1\" t=\"e\"><v>#N/A</v></c><c r=\"B1\" t=\"e\"><f>1/0</f>"
      "<v>#DIV/0!</v></c><c r=\"C1\" t=\"b\"><v>1</v></c><c r=\"D1\" t=\"d\">"
      "<v>2023-03-15T10:20:30</v></c><c r=\"E1\" t=\"str\"><f>A1</f><v>text</v></c>"
      "<c r=\"F1\"><f>SUM(A1:A2)</f></c><c r=\"G1\" s=\"1\"><v>45000.5</v></c>"
      "<c r=\"H1\" s=\"2\"><v>45000.5</v></c><c r=\"I1\" s=\"9\"><v>2</v></c>"
      "<c r=\"J1\"><v>1.2125551234E10</v></c><c r=\"K1\"><v>not a number</v></c></row>");
  fixture.styles = StylesXml({0, 14, 164}, {{164, "0.00"}});
  absl::StatusOr<std::unique_ptr<XlsxReader>> reader;
  const std::string path = TempPath("typed.xlsx");
  ASSERT_TRUE(fixture.Write(path).ok());
  reader = XlsxReader::Open(path, {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_THAT(testing::ReadAll(**reader),
              ElementsAre(ElementsAre("", "", "true", "2023-03-15", "text", "", "2023-03-15",
                                      "45000.5", "2", "12125551234", "not a number")));
  EXPECT_EQ((*reader)->error_cells(), 2);
}

TEST(XlsxReader, Date1904System) {
  XlsxFixture fixture;
  fixture.workbook =
      "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
      "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
      "<workbookPr date1904=\"1\"/><sheets><sheet name=\"Mac\" sheetId=\"1\" r:id=\"rId1\"/>"
      "</sheets></workbook>";
  fixture.sheet = SheetXml(
      "<row r=\"1\"><c r=\"A1\" s=\"1\"><v>43538</v></c>"
      "<c r=\"B1\" s=\"1\"><v>0</v></c><c r=\"C1\"><v>43538</v></c></row>");
  fixture.styles = StylesXml({0, 14});
  const ReadResult result = ReadFixture(fixture);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, ElementsAre(ElementsAre("2023-03-15", "1904-01-01", "43538")));
}

TEST(XlsxReader, ChartsheetsBeforeTheFirstWorksheetAreSkipped) {
  XlsxFixture fixture;
  fixture.workbook =
      "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
      "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>"
      "<sheet name=\"Chart1\" sheetId=\"2\" r:id=\"rId9\"/>"
      "<sheet name=\"Data\" sheetId=\"1\" state=\"veryHidden\" r:id=\"rId1\"/>"
      "<sheet name=\"Other\" sheetId=\"3\" r:id=\"rId8\"/></sheets></workbook>";
  fixture.workbook_rels =
      "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
      "<Relationship Id=\"rId9\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
      "relationships/chartsheet\" Target=\"chartsheets/sheet1.xml\"/>"
      "<Relationship Id=\"rId8\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
      "relationships/worksheet\" Target=\"worksheets/other.xml\"/>"
      "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
      "relationships/worksheet\" Target=\"/xl/worksheets/./sheet1.xml\"/></Relationships>";
  fixture.sheet = SheetXml("<row r=\"1\"><c r=\"A1\"><v>1</v></c></row>");
  const std::string path = TempPath("charts.xlsx");
  ASSERT_TRUE(fixture.Write(path).ok());
  absl::StatusOr<std::unique_ptr<XlsxReader>> reader = XlsxReader::Open(path, {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_THAT(testing::ReadAll(**reader), ElementsAre(ElementsAre("1")));
  EXPECT_EQ((*reader)->sheet_name(), "Data");
  EXPECT_TRUE((*reader)->sheet_hidden());
}

TEST(XlsxReader, PartsAreFoundThroughRelationships) {
  // Non-standard part names, a strict-OOXML relationship namespace, prefixed elements.
  const std::string strict = "http://purl.oclc.org/ooxml/officeDocument/relationships";
  XlsxFixture fixture;
  fixture.root_rels = fmt::format(
      "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
      "<Relationship Id=\"a\" Type=\"{}/officeDocument\" Target=\"/Book/Main.xml\"/>"
      "</Relationships>",
      strict);
  fixture.content_types =
      "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
      "<Override PartName=\"/book/main.XML\" ContentType=\"application/"
      "vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/></Types>";
  fixture.extra = {
      {"Book/Main.xml",
       "<x:workbook xmlns:x=\"http://purl.oclc.org/ooxml/spreadsheetml/main\" "
       "xmlns:rel=\"" +
           strict +
           "\"><x:sheets><x:sheet name=\"S\" sheetId=\"1\" rel:id=\"s\"/>"
           "</x:sheets></x:workbook>"},
      {"Book/_rels/Main.xml.rels",
       "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
       "<Relationship Id=\"s\" Type=\"" +
           strict +
           "/worksheet\" Target=\"../Data/my%20sheet.xml\"/>"
           "<Relationship Id=\"t\" Type=\"" +
           strict +
           "/sharedStrings\" Target=\"strings.xml\"/>"
           "</Relationships>"},
      {"Data/my sheet.xml",
       "<x:worksheet xmlns:x=\"http://purl.oclc.org/ooxml/spreadsheetml/main\"><x:sheetData>"
       "<x:row r=\"2\"><x:c r=\"B2\" t=\"s\"><x:v>0</x:v></x:c></x:row></x:sheetData>"
       "</x:worksheet>"},
      {"Book/strings.xml",
       "<sst xmlns=\"http://purl.oclc.org/ooxml/spreadsheetml/main\"><si><t>found</t></si></sst>"},
  };
  const ReadResult result = ReadFixture(fixture);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, ElementsAre(ElementsAre("", "found")));
  EXPECT_THAT(result.numbers, ElementsAre(2));
}

TEST(XlsxReader, PositionsWithoutReferences) {
  const ReadResult result = ReadSheet(
      "<row><c><v>1</v></c><c><v>2</v></c></row>"           // row 1, A and B
      "<row><c r=\"C5\"><v>3</v></c><c><v>4</v></c></row>"  // row 5 from its first cell
      "<row/>"                                              // row 6, blank
      "<row><c r=\"B7\"><v>5</v></c></row>"                 // row 7
      "<row r=\"9\"><c><v>6</v></c></row>");
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, ElementsAre(ElementsAre("1", "2"), ElementsAre("", "", "3", "4"),
                                       ElementsAre("", "5"), ElementsAre("6", "")));
  EXPECT_THAT(result.numbers, ElementsAre(1, 5, 7, 9));
}

TEST(XlsxReader, EscapesAreDecoded) {
  const ReadResult result = ReadSheet(
      "<row><c t=\"s\"><v>0</v></c><c t=\"inlineStr\"><is><t>a_x000D_b</t></is></c>"
      "<c t=\"str\"><v>_xD83D__xDE00_ _x0000_ _xDE00_ _x00e9_ _x12_</v></c></row>",
      {"_x005F_x000D_ and _x0009_"});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows,
              ElementsAre(ElementsAre("_x000D_ and \t", "a\rb", "😀 _x0000_ _xDE00_ é _x12_")));
}

TEST(XlsxReader, Utf16Parts) {
  std::string xml = SheetXml("<row><c t=\"inlineStr\"><is><t>wide</t></is></c></row>");
  const size_t decl_end = xml.find("?>") + 2;
  xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>" + xml.substr(decl_end);
  std::string utf16 = "\xFF\xFE";
  for (const char c : xml) {
    utf16 += c;
    utf16 += '\0';
  }
  XlsxFixture fixture;
  fixture.sheet = utf16;
  const ReadResult result = ReadFixture(fixture);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, ElementsAre(ElementsAre("wide")));
}

TEST(XlsxReader, OversizedSharedStringFailsOnlyWhereUsed) {
  ReadLimits limits;
  limits.max_cell_bytes = 10;
  ReadResult result =
      ReadSheet("<row><c t=\"s\"><v>0</v></c></row><row r=\"3\"><c t=\"s\"><v>1</v></c></row>",
                {"short", std::string(11, 'z')}, "", limits);
  EXPECT_THAT(result.rows, ElementsAre(ElementsAre("short")));
  EXPECT_EQ(result.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(result.status.message(), "row 3: cell in column 1 longer than 10 bytes (limit 10)");

  result = ReadSheet("<row><c t=\"s\"><v>0</v></c></row>", {"short", std::string(5000, 'z')}, "",
                     limits);
  EXPECT_TRUE(result.status.ok()) << result.status;
}

TEST(XlsxReader, ErrorsAreSticky) {
  const std::string path = TempPath("sticky.xlsx");
  XlsxFixture fixture;
  fixture.sheet = SheetXml("<row r=\"2\"><c><v>1</v></c></row><row r=\"1\"/>");
  ASSERT_TRUE(fixture.Write(path).ok());
  absl::StatusOr<std::unique_ptr<XlsxReader>> reader = XlsxReader::Open(path, {});
  ASSERT_TRUE(reader.ok());
  Row row;
  ASSERT_TRUE(*(*reader)->Next(row));
  EXPECT_EQ(row.number, 2);
  const absl::StatusOr<bool> first = (*reader)->Next(row);
  EXPECT_EQ(first.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*reader)->Next(row).status(), first.status());
}

TEST(XlsxReader, OpenTableFactory) {
  XlsxFixture fixture;
  fixture.sheet = SheetXml("<row><c><v>42</v></c></row>");
  const std::string path = TempPath("factory.xlsx");
  ASSERT_TRUE(fixture.Write(path).ok());
  absl::StatusOr<std::unique_ptr<TableReader>> reader = OpenXlsxReader(path, {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_THAT(testing::ReadAll(**reader), ElementsAre(ElementsAre("42")));
  EXPECT_EQ(OpenXlsxReader(TempPath("missing.xlsx"), {}).status().code(),
            absl::StatusCode::kNotFound);
}

// ---- Hostile and broken files ---------------------------------------------------------------

TEST(XlsxReaderHostile, DoctypeIsRefusedInEveryPart) {
  const std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
      "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
      "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>";
  XlsxFixture sheet;
  sheet.sheet = laughs +
                "<worksheet><sheetData><row><c t=\"inlineStr\"><is><t>&lol3;</t></is>"
                "</c></row></sheetData></worksheet>";
  ExpectRefused([&] { return ReadFixture(sheet); }, absl::StatusCode::kInvalidArgument,
                "row 1: XML with a DOCTYPE is not allowed (xl/worksheets/sheet1.xml");
  XlsxFixture workbook;
  workbook.workbook = "<!DOCTYPE workbook SYSTEM \"file:///etc/passwd\">" + workbook.workbook;
  ExpectRefused([&] { return ReadFixture(workbook); }, absl::StatusCode::kInvalidArgument,
                "XML with a DOCTYPE is not allowed (xl/workbook.xml");
  XlsxFixture shared;
  shared.shared_strings = laughs + "<sst><si><t>&lol3;</t></si></sst>";
  ExpectRefused([&] { return ReadFixture(shared); }, absl::StatusCode::kInvalidArgument,
                "XML with a DOCTYPE is not allowed (xl/sharedStrings.xml");
}

TEST(XlsxReaderHostile, DecompressionBombByRatio) {
  XlsxFixture fixture;
  // 200 MB of spaces deflate to ~200 KB: refused from the directory's sizes, before inflating.
  ZipFileEntry bomb{"xl/worksheets/sheet1.xml", std::string(1 << 20, ' '), 200};
  bomb.prefix = "<worksheet><sheetData>";
  bomb.suffix = "</sheetData></worksheet>";
  fixture.extra = {bomb};
  std::vector<ZipFileEntry> entries = fixture.Entries();
  entries.erase(entries.begin() + 4);  // the default sheet; the bomb replaces it
  const std::string path = TempPath("bomb.xlsx");
  ASSERT_TRUE(testing::WriteZip(path, entries).ok());
  ExpectRefused([&] { return ReadXlsx(path); }, absl::StatusCode::kInvalidArgument,
                "workbook is a decompression bomb: xl/worksheets/sheet1.xml inflates");

  // The same with a directory that lies about the compressed size (ratio looks fine): caught
  // while inflating, from the bytes actually consumed.
  std::string bytes = testing::ReadFileBytes(path);
  ASSERT_TRUE(testing::PatchEntrySizes(bytes, "xl/worksheets/sheet1.xml", 100u << 20, 200u << 20));
  const std::string lying = TempPath("lying_bomb.xlsx");
  testing::WriteFileBytes(lying, bytes);
  ExpectRefused([&] { return ReadXlsx(lying); }, absl::StatusCode::kInvalidArgument,
                "workbook is a decompression bomb: xl/worksheets/sheet1.xml inflates more than "
                "100 times its compressed size");
}

TEST(XlsxReaderHostile, DecompressionCaps) {
  std::string noise;
  uint32_t x = 12345;
  for (int i = 0; i < (1 << 20); ++i) {  // 1 MiB that deflate cannot shrink much
    x = x * 1103515245 + 12345;
    noise += static_cast<char>('a' + (x >> 16) % 26);
  }
  XlsxFixture fixture;
  fixture.sheet = SheetXml("<row><c t=\"inlineStr\"><is><t>" + noise + "</t></is></c></row>");
  fixture.shared_strings = SharedStringsXml({noise});
  ReadLimits limits;
  limits.max_decompressed_bytes = 1536 * 1024;  // each part fits, both do not
  ExpectRefused([&] { return ReadFixture(fixture, limits); }, absl::StatusCode::kInvalidArgument,
                "workbook is a decompression bomb: its parts inflate to more than 1572864 bytes");
  limits.max_decompressed_bytes = 512 * 1024;
  ExpectRefused([&] { return ReadFixture(fixture, limits); }, absl::StatusCode::kInvalidArgument,
                "workbook is a decompression bomb: xl/sharedStrings.xml inflates to");
  XlsxOptions options;
  options.max_small_part_bytes = 100;
  ExpectRefused([&] { return ReadFixture(fixture, {}, options); },
                absl::StatusCode::kInvalidArgument,
                "workbook is a decompression bomb: _rels/.rels inflates to");
}

TEST(XlsxReaderHostile, LyingDirectoryIsCorrupt) {
  XlsxFixture fixture;
  fixture.stored = true;
  fixture.sheet = SheetXml("<row><c><v>1</v></c></row>");
  const std::string path = TempPath("lie.xlsx");
  ASSERT_TRUE(fixture.Write(path).ok());
  std::string bytes = testing::ReadFileBytes(path);
  const auto size = static_cast<uint32_t>(fixture.sheet.size());
  ASSERT_TRUE(testing::PatchEntrySizes(bytes, "xl/worksheets/sheet1.xml", size - 1, size - 1));
  testing::WriteFileBytes(path, bytes);
  ExpectRefused([&] { return ReadXlsx(path); }, absl::StatusCode::kInvalidArgument,
                "corrupt XLSX file: ");
}

TEST(XlsxReaderHostile, SharedStringIndexOutOfRange) {
  ExpectSheetRefused(
      "<row r=\"4\"><c t=\"s\"><v>2</v></c></row>",
      "row 4: shared string index 2 out of range (the workbook has 2 shared strings)", {"a", "b"});
  ExpectSheetRefused("<row><c t=\"s\"><v>99999999</v></c></row>",
                     "row 1: shared string index 99999999 out of range");
  ExpectSheetRefused("<row><c t=\"s\"><v>-1</v></c></row>", "row 1: invalid shared string index");
}

TEST(XlsxReaderHostile, BadReferences) {
  ExpectSheetRefused("<row r=\"1048577\"/>", "row 1: invalid row number \"1048577\"");
  ExpectSheetRefused("<row r=\"999999999\"/>", "invalid row number \"999999999\"");
  ExpectSheetRefused("<row r=\"0\"/>", "invalid row number \"0\"");
  ExpectSheetRefused("<row r=\"x\"/>", "invalid row number \"x\"");
  ExpectSheetRefused("<row r=\"3\"/><row r=\"3\"/>", "row 3: rows out of order");
  ExpectSheetRefused("<row r=\"5\"><c><v>1</v></c></row><row r=\"2\"/>",
                     "row 2: rows out of order (row 2 comes after row 5)");
  ExpectSheetRefused("<row r=\"1\"><c r=\"XFE1\"><v>1</v></c></row>",
                     "row 1: cell reference XFE1 is past Excel's last cell XFD1048576");
  ExpectSheetRefused("<row><c r=\"A1048577\"><v>1</v></c></row>", "is past Excel's last cell");
  ExpectSheetRefused("<row r=\"2\"><c r=\"1A\"><v>1</v></c></row>",
                     "row 2: invalid cell reference \"1A\"");
  ExpectSheetRefused("<row r=\"2\"><c r=\"AAAA2\"><v>1</v></c></row>", "invalid cell reference");
  ExpectSheetRefused("<row r=\"2\"><c r=\"B2\"/><c r=\"A2\"/></row>", "row 2: cells out of order");
  ExpectSheetRefused("<row r=\"2\"><c r=\"B3\"/></row>", "row 2: cell B3 is outside its row");
  ExpectSheetRefused("<row r=\"7\"><c r=\"A7\"><v>1</v></c><c><v>2</v>", "row 7: malformed XML");
}

TEST(XlsxReaderHostile, XmlShapeLimits) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  ExpectSheetRefused(deep, "row 1: XML nested deeper than 64 elements");
  std::string very_deep;
  for (int i = 0; i < 100000; ++i) very_deep += "<a>";
  ExpectSheetRefused(very_deep, "XML nested deeper than 64 elements");
  std::string attributes;
  for (int i = 0; i < 65; ++i) attributes += fmt::format(" a{}=\"1\"", i);
  ExpectSheetRefused("<row r=\"1\"" + attributes + "/>", "has more than 64 attributes");
  ExpectSheetRefused("<row r=\"1\" spans=\"" + std::string(2 << 20, 'x') + "\"/>",
                     "XML tag, comment or instruction longer than 131072 bytes");
  ExpectSheetRefused("<!--" + std::string(2 << 20, 'x') + "-->",
                     "XML tag, comment or instruction longer than");
}

TEST(XlsxReaderHostile, LongTextOutsideCellsStreams) {
  // A 4 MB formula in <f> is not kept: only cached values are.
  const ReadResult result =
      ReadSheet("<row><c><f>" + std::string(4 << 20, '1') + "</f><v>7</v></c></row>");
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, ElementsAre(ElementsAre("7")));
}

TEST(XlsxReaderHostile, NotAnXlsxWorkbook) {
  const auto read_entries = [](std::vector<ZipFileEntry> entries) {
    return [entries = std::move(entries)] {
      const std::string path = TempPath("other.zip");
      EXPECT_TRUE(testing::WriteZip(path, entries).ok());
      return ReadXlsx(path);
    };
  };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  ExpectRefused(
      read_entries({{"mimetype", "application/vnd.oasis.opendocument.spreadsheet", 1, true},
                    {"content.xml", "<office:document-content/>"}}),
      kInvalid, "this is an OpenDocument spreadsheet (.ods): save as .xlsx or .csv");
  ExpectRefused(read_entries({{"hello.txt", "hi"}}), kInvalid,
                "not an XLSX workbook (a ZIP without [Content_Types].xml)");
  ExpectRefused(read_entries({{"[Content_Types].xml", "<Types/>"}}), kInvalid,
                "not an XLSX workbook (no workbook part)");

  XlsxFixture xlsb;
  xlsb.root_rels =
      "<Relationships><Relationship Id=\"r\" Type=\"http://schemas.openxmlformats.org/"
      "officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.bin\"/>"
      "</Relationships>";
  xlsb.extra = {{"xl/workbook.bin", "binary"}};
  ExpectRefused([&] { return ReadFixture(xlsb); }, kInvalid,
                "this is an .xlsb workbook: save as .xlsx or .csv");

  const std::string main_type =
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml";
  XlsxFixture xlsm;
  const size_t at = xlsm.content_types.find(main_type);
  ASSERT_NE(at, std::string::npos);
  xlsm.content_types.replace(at, main_type.size(),
                             "application/vnd.ms-excel.sheet.macroEnabled.main+xml");
  ExpectRefused([&] { return ReadFixture(xlsm); }, kInvalid,
                "this is a macro-enabled workbook (.xlsm): save as .xlsx or .csv");

  XlsxFixture docx;
  docx.content_types.replace(at, main_type.size(),
                             "application/vnd.openxmlformats-officedocument.wordprocessingml."
                             "document.main+xml");
  ExpectRefused([&] { return ReadFixture(docx); }, kInvalid,
                "not an XLSX workbook (its main part is application/vnd.openxmlformats-"
                "officedocument.wordprocessingml.document.main+xml)");

  XlsxFixture no_sheet;
  no_sheet.workbook = "<workbook><sheets/></workbook>";
  ExpectRefused([&] { return ReadFixture(no_sheet); }, kInvalid, "the workbook has no worksheet");

  XlsxFixture missing_sheet;
  missing_sheet.workbook_rels =
      "<Relationships><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/"
      "officeDocument/2006/relationships/worksheet\" Target=\"worksheets/gone.xml\"/>"
      "</Relationships>";
  ExpectRefused([&] { return ReadFixture(missing_sheet); }, kInvalid,
                "corrupt XLSX file: worksheet part worksheets/gone.xml is missing");
}

TEST(XlsxReaderHostile, CorruptZip) {
  const std::string path = WriteWithXlsxwriter([](lxw_workbook*, lxw_worksheet* ws) {
    for (int r = 0; r < 200; ++r) worksheet_write_number(ws, r, 0, r, nullptr);
  });
  const std::string bytes = testing::ReadFileBytes(path);
  for (const size_t size :
       {size_t{0}, size_t{4}, size_t{100}, bytes.size() / 2, bytes.size() - 10}) {
    const std::string truncated = TempPath("truncated.xlsx");
    testing::WriteFileBytes(truncated, bytes.substr(0, size));
    ExpectRefused([&] { return ReadXlsx(truncated); }, absl::StatusCode::kInvalidArgument,
                  "corrupt XLSX file: ");
  }

  // A damaged byte inside a stored sheet: the rows read, then the CRC fails.
  XlsxFixture fixture;
  fixture.stored = true;
  fixture.sheet = SheetXml("<row><c t=\"inlineStr\"><is><t>abc</t></is></c></row>");
  const std::string stored = TempPath("crc.xlsx");
  ASSERT_TRUE(fixture.Write(stored).ok());
  std::string damaged = testing::ReadFileBytes(stored);
  damaged[damaged.find("<t>abc") + 4] = 'X';
  testing::WriteFileBytes(stored, damaged);
  ExpectRefused([&] { return ReadXlsx(stored); }, absl::StatusCode::kInvalidArgument,
                "corrupt XLSX file: xl/worksheets/sheet1.xml: CRC mismatch");
  XlsxOptions no_crc;
  no_crc.verify_crc = false;
  EXPECT_THAT(ReadXlsx(stored, {}, no_crc).rows, ElementsAre(ElementsAre("aXc")));

  // Damaged deflate data.
  std::string garbled = bytes;
  const size_t sheet_at = garbled.find("xl/worksheets/sheet1.xml");
  ASSERT_NE(sheet_at, std::string::npos);
  for (size_t i = sheet_at + 64; i < sheet_at + 164; ++i) garbled[i] = static_cast<char>(i * 7);
  const std::string deflate = TempPath("deflate.xlsx");
  testing::WriteFileBytes(deflate, garbled);
  ExpectRefused([&] { return ReadXlsx(deflate); }, absl::StatusCode::kInvalidArgument,
                "corrupt XLSX file: ");
}

TEST(XlsxReaderHostile, TooManyEntries) {
  XlsxFixture fixture;
  for (int i = 0; i < 10'000; ++i)
    fixture.extra.push_back({fmt::format("junk/{}", i), "", 1, true});
  ExpectRefused([&] { return ReadFixture(fixture); }, absl::StatusCode::kInvalidArgument,
                "corrupt XLSX file: 10005 ZIP entries (limit 10000)");
}

TEST(XlsxReaderHostile, DuplicateEntries) {
  XlsxFixture fixture;
  fixture.extra = {{"XL/Workbook.xml", "<workbook/>"}};
  ExpectRefused([&] { return ReadFixture(fixture); }, absl::StatusCode::kInvalidArgument,
                "corrupt XLSX file: the ZIP names entry XL/Workbook.xml twice");
}

TEST(XlsxReaderHostile, EncryptedEntry) {
  XlsxFixture fixture;
  std::vector<ZipFileEntry> entries = fixture.Entries();
  entries[2].password = "secret";  // xl/workbook.xml
  const std::string path = TempPath("encrypted.xlsx");
  ASSERT_TRUE(testing::WriteZip(path, entries).ok());
  ExpectRefused([&] { return ReadXlsx(path); }, absl::StatusCode::kInvalidArgument,
                "encrypted XLSX file: ZIP entry xl/workbook.xml is password-protected");
}

// Writes the seeds of fuzz/xlsx_reader_fuzz.cc (see its file comment for the input format):
//   NEXUS_XLSX_SEED_DIR=fuzz/corpus/xlsx ingest_test --gtest_also_run_disabled_tests
//     --gtest_filter='*WriteFuzzSeeds*'
TEST(XlsxReader, DISABLED_WriteFuzzSeeds) {
  const char* dir = std::getenv("NEXUS_XLSX_SEED_DIR");
  ASSERT_NE(dir, nullptr) << "set NEXUS_XLSX_SEED_DIR";
  const auto write = [&](std::string_view name, char config, std::string_view body) {
    testing::WriteFileBytes(fmt::format("{}/{}", dir, name), std::string(1, config) += body);
  };
  const std::string typed = WriteWithXlsxwriter([](lxw_workbook* wb, lxw_worksheet* ws) {
    lxw_format* date = workbook_add_format(wb);
    format_set_num_format(date, "yyyy-mm-dd");
    worksheet_write_string(ws, 0, 0, "phoneNumber", nullptr);
    worksheet_write_string(ws, 0, 1, "name", nullptr);
    worksheet_write_string(ws, 0, 2, "when", nullptr);
    worksheet_write_number(ws, 1, 0, 12125551234.0, nullptr);
    worksheet_write_string(ws, 1, 1, "Zoë", nullptr);
    lxw_datetime when = {2023, 3, 15, 0, 0, 0};
    worksheet_write_datetime(ws, 1, 2, &when, date);
    worksheet_write_boolean(ws, 3, 0, 1, nullptr);
    worksheet_write_formula_num(ws, 3, 1, "=1+2", nullptr, 3);
    worksheet_write_formula_str(ws, 3, 2, "=\"a\"", nullptr, "a");
  });
  write("lxw_typed", '\x02', testing::ReadFileBytes(typed));
  XlsxFixture fixture;
  fixture.sheet = SheetXml(
      "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>h_x000D_</t></is></c>"
      "<c r=\"B1\" t=\"s\"><v>0</v></c></row><row r=\"3\"><c r=\"B3\" s=\"1\"><v>45000</v>"
      "</c><c t=\"e\"><v>#N/A</v></c></row>");
  fixture.shared_strings = SharedStringsXml({"shared"});
  fixture.styles = StylesXml({0, 14});
  const std::string handmade = TempPath("seed.xlsx");
  ASSERT_TRUE(fixture.Write(handmade).ok());
  write("handmade_deflated", '\x06', testing::ReadFileBytes(handmade));
  write("parts_basic", '\x01',
        "<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c>"
        "<c r=\"B1\" t=\"s\"><v>1</v></c></row><row r=\"2\"><c r=\"A2\"><v>12125551234</v>"
        "</c><c r=\"B2\" s=\"1\"><v>45000.5</v></c><c r=\"C2\" t=\"b\"><v>1</v></c></row>"
        "</sheetData></worksheet>\n--\n<sst><si><t>phone</t></si><si><r><t>da</t></r><r><t>te"
        "</t></r><rPh><t>x</t></rPh></si></sst>\n--\n<styleSheet><numFmts><numFmt "
        "numFmtId=\"164\" formatCode=\"dd/mm/yyyy\"/></numFmts><cellXfs><xf numFmtId=\"0\"/>"
        "<xf numFmtId=\"164\"/></cellXfs></styleSheet>");
  write("parts_1904_sparse", '\x0d',
        "<x:worksheet xmlns:x=\"m\"><x:sheetData><x:row><x:c><x:v>1</x:v></x:c></x:row>"
        "<x:row><x:c r=\"C4\" s=\"1\"><x:v>0</x:v></x:c><x:c t=\"str\"><x:v>_x005F_x0041_"
        "</x:v></x:c></x:row><x:row r=\"9\"/><x:row><x:c t=\"d\"><x:v>2024-01-02T03:04:05"
        "</x:v></x:c></x:row></x:sheetData></x:worksheet>\n--\n\n--\n<styleSheet><cellXfs>"
        "<xf numFmtId=\"0\"/><xf numFmtId=\"14\"/></cellXfs></styleSheet>\n--\n<workbook "
        "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
        "<workbookPr date1904=\"true\"/><sheets><sheet name=\"Mac\" state=\"hidden\" "
        "r:id=\"rId1\"/></sheets></workbook>");
}

}  // namespace
}  // namespace nexus::ingest

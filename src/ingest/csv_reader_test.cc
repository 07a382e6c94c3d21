#include "ingest/csv_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "ingest/byte_source.h"

namespace nexus::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct TestRow {
  int64_t number;
  std::vector<std::string> cells;
  bool operator==(const TestRow&) const = default;
};

void PrintTo(const TestRow& row, std::ostream* os) {
  *os << "row " << row.number << " [" << absl::StrJoin(row.cells, "|") << "]";
}

struct Table {
  std::vector<TestRow> rows;
  std::string encoding;
  char delimiter = 0;
};

// Serves `data` in pieces of pseudo-random size 1..max_piece.
class RandomChunkSource final : public ByteSource {
 public:
  RandomChunkSource(std::string data, uint32_t seed, size_t max_piece)
      : data_(std::move(data)), rng_(seed), piece_(1, max_piece) {}

  absl::StatusOr<size_t> Read(char* buffer, size_t capacity) override {
    const size_t n = std::min({capacity, piece_(rng_), data_.size() - offset_});
    std::copy_n(data_.data() + offset_, n, buffer);
    offset_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t offset_ = 0;
  std::mt19937 rng_;
  std::uniform_int_distribution<size_t> piece_;
};

// Returns some bytes, then fails.
class FailingSource final : public ByteSource {
 public:
  absl::StatusOr<size_t> Read(char* buffer, size_t capacity) override {
    if (served_) return absl::DataLossError("disk on fire");
    served_ = true;
    const std::string_view data = "a,b\n1,2\n3,";
    const size_t n = std::min(capacity, data.size());
    std::copy_n(data.data(), n, buffer);
    return n;
  }

 private:
  bool served_ = false;
};

absl::StatusOr<Table> ReadAll(std::unique_ptr<ByteSource> source, ReadLimits limits = {},
                              CsvOptions options = {}) {
  CsvReader reader(std::move(source), limits, options);
  Table table;
  Row row;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(row);
    if (!more.ok()) return more.status();
    if (!*more) break;
    table.rows.push_back(TestRow{row.number, {row.cells.begin(), row.cells.end()}});
  }
  // The end is sticky.
  absl::StatusOr<bool> again = reader.Next(row);
  if (!again.ok() || *again) return absl::InternalError("Next() after the end was not false");
  table.encoding = std::string(reader.encoding());
  table.delimiter = reader.delimiter();
  return table;
}

absl::StatusOr<Table> ReadAll(std::string data, ReadLimits limits = {}, CsvOptions options = {}) {
  return ReadAll(std::make_unique<StringByteSource>(std::move(data)), limits, options);
}

std::vector<TestRow> Rows(const std::string& data, ReadLimits limits = {},
                          CsvOptions options = {}) {
  absl::StatusOr<Table> table = ReadAll(data, limits, options);
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? table->rows : std::vector<TestRow>{};
}

absl::Status ReadError(const std::string& data, ReadLimits limits = {}, CsvOptions options = {}) {
  absl::StatusOr<Table> table = ReadAll(data, limits, options);
  return table.ok() ? absl::OkStatus() : table.status();
}

std::string Utf16(std::u16string_view text, bool big_endian, bool bom = true) {
  std::string out;
  if (bom) out = big_endian ? "\xFE\xFF" : "\xFF\xFE";
  for (const char16_t unit : text) {
    const char high = static_cast<char>(unit >> 8);
    const char low = static_cast<char>(unit & 0xFF);
    out += big_endian ? std::string{high, low} : std::string{low, high};
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Records, fields and quoting.

TEST(CsvReader, ReadsHeaderThenDataRows) {
  EXPECT_THAT(Rows("phoneNumber,name\n2125551234,Ann\n2125551235,Bob\n"),
              ElementsAre(TestRow{1, {"phoneNumber", "name"}}, TestRow{2, {"2125551234", "Ann"}},
                          TestRow{3, {"2125551235", "Bob"}}));
}

TEST(CsvReader, FinalNewlineIsOptional) {
  EXPECT_EQ(Rows("a,b\n1,2"), Rows("a,b\n1,2\n"));
  EXPECT_THAT(Rows("a,b\n1,2"), ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"1", "2"}}));
}

TEST(CsvReader, AllLineEndingsReadTheSame) {
  const std::vector<TestRow> expected = {{1, {"a", "b"}}, {2, {"1", "2"}}, {3, {"3", "4"}}};
  EXPECT_EQ(Rows("a,b\n1,2\n3,4\n"), expected);
  EXPECT_EQ(Rows("a,b\r\n1,2\r\n3,4\r\n"), expected);
  EXPECT_EQ(Rows("a,b\r1,2\r3,4\r"), expected);
  EXPECT_EQ(Rows("a,b\r\n1,2\r3,4\n"), expected);
  EXPECT_EQ(Rows("a,b\r1,2\n3,4"), expected);
}

TEST(CsvReader, CrLfIsOneLineEndButLfCrIsTwo) {
  // "\n\r" is an LF ending row 1 then a lone CR ending blank row 2.
  EXPECT_THAT(Rows("a\n\r1\n"), ElementsAre(TestRow{1, {"a"}}, TestRow{3, {"1"}}));
  EXPECT_THAT(Rows("a\r\n1\n"), ElementsAre(TestRow{1, {"a"}}, TestRow{2, {"1"}}));
}

TEST(CsvReader, QuotedFieldsHoldDelimitersLineEndsAndDoubledQuotes) {
  EXPECT_THAT(
      Rows("name,notes\n\"Smith, Ann\",\"line 1\nline 2\"\n\"say \"\"hi\"\"\",\"a\r\nb\"\n"),
      ElementsAre(TestRow{1, {"name", "notes"}}, TestRow{2, {"Smith, Ann", "line 1\nline 2"}},
                  TestRow{3, {"say \"hi\"", "a\r\nb"}}));
}

TEST(CsvReader, QuotedEmptyFieldsAndOnlyQuotes) {
  EXPECT_THAT(Rows("a,b,c\n\"\",\"\"\"\",x\n"),
              ElementsAre(TestRow{1, {"a", "b", "c"}}, TestRow{2, {"", "\"", "x"}}));
  EXPECT_THAT(Rows("a\n\"\"\"\"\"\"\n"), ElementsAre(TestRow{1, {"a"}}, TestRow{2, {"\"\""}}));
}

TEST(CsvReader, QuotedFieldAtEndOfFileWithoutNewline) {
  EXPECT_THAT(Rows("a,b\n1,\"x, y\""),
              ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"1", "x, y"}}));
  EXPECT_THAT(Rows("a,b\n1,\"x\"\"\""),
              ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"1", "x\""}}));
}

TEST(CsvReader, QuotedNewlineDoesNotStartARow) {
  EXPECT_THAT(Rows("name,notes\nAnn,\"one\ntwo\nthree\"\nBob,x\r\n\"Cy\r\nD\",y\n"),
              ElementsAre(TestRow{1, {"name", "notes"}}, TestRow{2, {"Ann", "one\ntwo\nthree"}},
                          TestRow{3, {"Bob", "x"}}, TestRow{4, {"Cy\r\nD", "y"}}));
}

TEST(CsvReader, CellsAreNotTrimmed) {
  EXPECT_THAT(Rows("a,b\n  1 , 2\t\n"),
              ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"  1 ", " 2\t"}}));
}

TEST(CsvReader, SpacesAroundQuotedFieldsAreIgnored) {
  EXPECT_THAT(Rows("a,b\n  \"x, y\"  , \"z\" \n"),
              ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"x, y", "z"}}));
  // With tab as the delimiter, tabs delimit; spaces are still padding.
  EXPECT_THAT(Rows("a\tb\n \"x\" \t\"y\"\n"),
              ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"x", "y"}}));
}

TEST(CsvReader, TrailingDelimiterMakesAnEmptyLastCell) {
  EXPECT_THAT(Rows("a,b\n1,\n"), ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"1", ""}}));
  EXPECT_THAT(Rows("a,b\n1,"), ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"1", ""}}));
}

// ---------------------------------------------------------------------------------------------
// Blank rows and numbering.

TEST(CsvReader, BlankRowsAreSkippedButCounted) {
  EXPECT_THAT(Rows("a,b\n\n1,2\n,,\n  ,\t\n\"\",\" \"\n\r\n3,4\n\n"),
              ElementsAre(TestRow{1, {"a", "b"}}, TestRow{3, {"1", "2"}}, TestRow{8, {"3", "4"}}));
}

TEST(CsvReader, HeaderIsTheFirstNonBlankRow) {
  EXPECT_THAT(Rows("\n,,\n \nphone,name\n1,Ann\n"),
              ElementsAre(TestRow{4, {"phone", "name"}}, TestRow{5, {"1", "Ann"}}));
}

TEST(CsvReader, EmptyOrBlankFilesHaveNoRows) {
  EXPECT_THAT(Rows(""), IsEmpty());
  EXPECT_THAT(Rows("\xEF\xBB\xBF"), IsEmpty());
  EXPECT_THAT(Rows("\n\r\n,,,\n \t \n"), IsEmpty());
  EXPECT_THAT(Rows(Utf16(u"", false)), IsEmpty());
}

TEST(CsvReader, NumbersRowsWithBlankRowsAndQuotedNewlinesTogether) {
  const std::string data =
      "phone,notes\r\n"              // 1
      "\r\n"                         // 2 blank
      "1,\"multi\r\nline\r\n\"\r\n"  // 3
      ",\r\n"                        // 4 blank
      "2,\"\"\r\n"                   // 5
      "3,\"x\ny\"";                  // 6
  EXPECT_THAT(Rows(data),
              ElementsAre(TestRow{1, {"phone", "notes"}}, TestRow{3, {"1", "multi\r\nline\r\n"}},
                          TestRow{5, {"2", ""}}, TestRow{6, {"3", "x\ny"}}));
}

// ---------------------------------------------------------------------------------------------
// Row width.

TEST(CsvReader, ShortRowsArePaddedToTheHeaderWidth) {
  EXPECT_THAT(Rows("a,b,c\n1\n2,3\n"),
              ElementsAre(TestRow{1, {"a", "b", "c"}}, TestRow{2, {"1", "", ""}},
                          TestRow{3, {"2", "3", ""}}));
}

TEST(CsvReader, EmptyCellsBeyondTheHeaderAreDropped) {
  EXPECT_THAT(Rows("a,b\n1,2,,, ,\"\"\n"),
              ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"1", "2"}}));
}

TEST(CsvReader, NonEmptyCellsBeyondTheHeaderAreKept) {
  EXPECT_THAT(Rows("a,b\n1,2,,x,\n"),
              ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"1", "2", "", "x"}}));
}

TEST(CsvReader, HeaderLosesTrailingEmptyCellsButKeepsInnerOnes) {
  EXPECT_THAT(Rows("a,,b,,\n1,2,3,4\n"),
              ElementsAre(TestRow{1, {"a", "", "b"}}, TestRow{2, {"1", "2", "3", "4"}}));
}

// ---------------------------------------------------------------------------------------------
// Encodings.

TEST(CsvReader, Utf8BomIsStripped) {
  absl::StatusOr<Table> table = ReadAll("\xEF\xBB\xBFphone,name\n1,J\xC3\xBCrgen\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_THAT(table->rows,
              ElementsAre(TestRow{1, {"phone", "name"}}, TestRow{2, {"1", "J\xC3\xBCrgen"}}));
  EXPECT_EQ(table->encoding, "utf-8");
}

TEST(CsvReader, Windows1252IsTranscoded) {
  absl::StatusOr<Table> table = ReadAll("name,city\nM\xFCller,K\xF6ln\n\x80 5,\x93q\x94\x81\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->encoding, "windows-1252");
  EXPECT_THAT(
      table->rows,
      ElementsAre(TestRow{1, {"name", "city"}}, TestRow{2, {"M\xC3\xBCller", "K\xC3\xB6ln"}},
                  TestRow{3, {"\xE2\x82\xAC 5", "\xE2\x80\x9Cq\xE2\x80\x9D\xC2\x81"}}));
}

TEST(CsvReader, InvalidUtf8FormsMeanWindows1252) {
  for (const std::string bad :
       {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82", "\xFF", "\xC3"}) {
    absl::StatusOr<Table> table = ReadAll("a\n" + bad + "\n");
    ASSERT_TRUE(table.ok()) << table.status();
    EXPECT_EQ(table->encoding, "windows-1252") << absl::CHexEscape(bad);
  }
  // A valid 4-byte sequence at the very end of the file stays UTF-8.
  absl::StatusOr<Table> table = ReadAll("a\n\xF0\x9F\x98\x80");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->encoding, "utf-8");
  EXPECT_THAT(table->rows, ElementsAre(TestRow{1, {"a"}}, TestRow{2, {"\xF0\x9F\x98\x80"}}));
}

TEST(CsvReader, InvalidUtf8AfterTheSniffWindowSwitchesFromThatRowOn) {
  CsvOptions options;
  options.sniff_bytes = 16;
  options.read_bytes = 64;
  std::string data = "name\n";
  for (int i = 0; i < 50; ++i) data += "J\xC3\xBCrgen\n";  // valid UTF-8
  data += "M\xFCller\nJ\xC3\xBCrgen\n";                    // then Windows-1252
  absl::StatusOr<Table> table = ReadAll(data, {}, options);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->encoding, "windows-1252");
  ASSERT_EQ(table->rows.size(), 53u);
  EXPECT_EQ(table->rows[50], (TestRow{51, {"J\xC3\xBCrgen"}}));
  EXPECT_EQ(table->rows[51], (TestRow{52, {"M\xC3\xBCller"}}));
  // After the switch, bytes are read as Windows-1252 even when they would be valid UTF-8.
  EXPECT_EQ(table->rows[52], (TestRow{53, {"J\xC3\x83\xC2\xBCrgen"}}));
}

TEST(CsvReader, InvalidUtf8InsideTheSniffWindowMakesTheWholeFileWindows1252) {
  absl::StatusOr<Table> table = ReadAll("name\nJ\xC3\xBCrgen\nM\xFCller\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->encoding, "windows-1252");
  EXPECT_THAT(table->rows, ElementsAre(TestRow{1, {"name"}}, TestRow{2, {"J\xC3\x83\xC2\xBCrgen"}},
                                       TestRow{3, {"M\xC3\xBCller"}}));
}

TEST(CsvReader, Utf16LeWithBomIsExcelUnicodeText) {
  // Excel "Unicode Text": UTF-16LE, BOM, tab-separated, CRLF.
  absl::StatusOr<Table> table =
      ReadAll(Utf16(u"phoneNumber\tname\r\n2125551234\tZo\u00EB \u6771\r\n", false));
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->encoding, "utf-16le");
  EXPECT_EQ(table->delimiter, '\t');
  EXPECT_THAT(table->rows, ElementsAre(TestRow{1, {"phoneNumber", "name"}},
                                       TestRow{2, {"2125551234", "Zo\xC3\xAB \xE6\x9D\xB1"}}));
}

TEST(CsvReader, Utf16BeWithBom) {
  absl::StatusOr<Table> table = ReadAll(Utf16(u"a,b\n\"x,\"\"y\"\"\",\u00FC\n", true));
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->encoding, "utf-16be");
  EXPECT_THAT(table->rows,
              ElementsAre(TestRow{1, {"a", "b"}}, TestRow{2, {"x,\"y\"", "\xC3\xBC"}}));
}

TEST(CsvReader, Utf16SurrogatePairsAndBrokenUnits) {
  // U+1F600 as a pair; a lone high surrogate; a lone low surrogate; an odd last byte.
  std::string data = Utf16(u"a\n\U0001F600,\xD800x,\xDC00\n", false) + "z";
  absl::StatusOr<Table> table = ReadAll(data);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_THAT(table->rows,
              ElementsAre(TestRow{1, {"a"}},
                          TestRow{2, {"\xF0\x9F\x98\x80", "\xEF\xBF\xBDx", "\xEF\xBF\xBD"}},
                          TestRow{3, {"\xEF\xBF\xBD"}}));
}

TEST(CsvReader, NulByteIsABinaryFile) {
  absl::Status status = ReadError(std::string("a,b\n1,2\n3,\0\n", 12));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "row 3: NUL byte (binary file?)");
  // The NUL is found before the reader buffers a whole (huge) record around it.
  std::string big =
      "a\n\"" + std::string(1000, 'x') + std::string(1, '\0') + std::string(100000, 'y');
  CsvOptions options;
  options.read_bytes = 64;
  options.sniff_bytes = 0;
  status = ReadError(big, {}, options);
  EXPECT_EQ(status.message(), "row 2: NUL byte (binary file?)");
}

TEST(CsvReader, Utf16WithoutBomAndUtf32FailOnNulBytes) {
  EXPECT_THAT(ReadError(Utf16(u"a,b\n1,2\n", false, /*bom=*/false)).message(),
              HasSubstr("NUL byte"));
  EXPECT_THAT(ReadError(std::string("\xFF\xFE\0\0a\0\0\0", 8)).message(), HasSubstr("NUL byte"));
  EXPECT_EQ(ReadError(std::string("\x89PNG\r\n\x1A\n\0\0\0\rIHDR", 16)).code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Delimiters.

TEST(CsvReader, SemicolonEuropeanExcelExport) {
  absl::StatusOr<Table> table =
      ReadAll("Telefon;Name;Betrag\r\n+49 30 1234567;\"M\xFCller; Hans\";1,5\r\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->delimiter, ';');
  EXPECT_EQ(table->encoding, "windows-1252");
  EXPECT_THAT(table->rows,
              ElementsAre(TestRow{1, {"Telefon", "Name", "Betrag"}},
                          TestRow{2, {"+49 30 1234567", "M\xC3\xBCller; Hans", "1,5"}}));
}

TEST(CsvReader, TabAndPipeDelimiters) {
  absl::StatusOr<Table> tab = ReadAll("a\tb\tc\n1\t2,5\t3\n");
  ASSERT_TRUE(tab.ok());
  EXPECT_EQ(tab->delimiter, '\t');
  EXPECT_THAT(tab->rows[1].cells, ElementsAre("1", "2,5", "3"));
  absl::StatusOr<Table> pipe = ReadAll("a|b\n1|2\n");
  ASSERT_TRUE(pipe.ok());
  EXPECT_EQ(pipe->delimiter, '|');
}

TEST(CsvReader, DelimiterRuleNeedsAClearWinnerOverComma) {
  auto delimiter = [](const std::string& data) {
    absl::StatusOr<Table> table = ReadAll(data);
    return table.ok() ? table->delimiter : '?';
  };
  EXPECT_EQ(delimiter("a,b;c\n"), ',');            // tie with comma: comma
  EXPECT_EQ(delimiter("a;b;c,d\n"), ';');          // more ; than ,
  EXPECT_EQ(delimiter("a;b|c\n"), ',');            // tie between candidates: comma
  EXPECT_EQ(delimiter("phone\n1;2;3\n"), ',');     // only the header line counts
  EXPECT_EQ(delimiter("\"a;b;c\",d\n"), ',');      // quoted candidates do not count
  EXPECT_EQ(delimiter("\n;;\n\"\"\na;b\n"), ';');  // blank lines before the header are skipped
  EXPECT_EQ(delimiter("\"x\ny\";z\n"), ';');       // a quoted newline does not end the header
}

TEST(CsvReader, ExcelSepLineSetsTheDelimiterAndIsNotARow) {
  absl::StatusOr<Table> table = ReadAll("sep=;\r\na;b,c\r\n1;2\r\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->delimiter, ';');
  EXPECT_THAT(table->rows, ElementsAre(TestRow{1, {"a", "b,c"}}, TestRow{2, {"1", "2"}}));
  absl::StatusOr<Table> bom = ReadAll("\xEF\xBB\xBFSEP=|\na|b\n");
  ASSERT_TRUE(bom.ok()) << bom.status();
  EXPECT_THAT(bom->rows, ElementsAre(TestRow{1, {"a", "b"}}));
  // Not a sep line: a real header.
  EXPECT_THAT(Rows("sep=;x,y\n"), ElementsAre(TestRow{1, {"sep=;x", "y"}}));
}

TEST(CsvReader, ExplicitDelimiterOption) {
  CsvOptions options;
  options.delimiter = ';';
  EXPECT_THAT(Rows("a,b,c;d\n", {}, options), ElementsAre(TestRow{1, {"a,b,c", "d"}}));
  options.delimiter = '"';
  EXPECT_EQ(ReadError("a\n", {}, options).code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Shapes real exporters write.

TEST(CsvReader, GoogleSheetsExport) {
  // LF, no BOM, quoted only when needed, no final newline.
  EXPECT_THAT(Rows("phoneNumber,name,notes\n(212) 555-1234,\"Doe, Jane\",\"said \"\"call "
                   "later\"\"\"\n+1 212 555 1235,Ren\xC3\xA9,\n,,\n212.555.1236,Li,\"two\nlines\""),
              ElementsAre(TestRow{1, {"phoneNumber", "name", "notes"}},
                          TestRow{2, {"(212) 555-1234", "Doe, Jane", "said \"call later\""}},
                          TestRow{3, {"+1 212 555 1235", "Ren\xC3\xA9", ""}},
                          TestRow{5, {"212.555.1236", "Li", "two\nlines"}}));
}

TEST(CsvReader, ExcelCsvUtf8Export) {
  // BOM, CRLF, final CRLF, quoted only when needed, LF inside quoted cells (Alt+Enter).
  absl::StatusOr<Table> table = ReadAll(
      "\xEF\xBB\xBFphoneNumber,name,notes\r\n2125551234,\"O'Neil, Se\xC3\xA1n\",\"a\nb\"\r\n"
      "2125551235,Zo\xC3\xAB,\r\n,,\r\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->encoding, "utf-8");
  EXPECT_THAT(table->rows, ElementsAre(TestRow{1, {"phoneNumber", "name", "notes"}},
                                       TestRow{2, {"2125551234", "O'Neil, Se\xC3\xA1n", "a\nb"}},
                                       TestRow{3, {"2125551235", "Zo\xC3\xAB", ""}}));
}

TEST(CsvReader, LibreOfficeExport) {
  // LibreOffice with "Quote all text cells": numbers bare, text quoted, LF.
  EXPECT_THAT(Rows("\"phoneNumber\",\"name\",\"priority\"\n12125551234,\"Ana \xC3\x91\",1\n"
                   "12125551235,\"\",2\n"),
              ElementsAre(TestRow{1, {"phoneNumber", "name", "priority"}},
                          TestRow{2, {"12125551234", "Ana \xC3\x91", "1"}},
                          TestRow{3, {"12125551235", "", "2"}}));
}

// ---------------------------------------------------------------------------------------------
// Limits.

TEST(CsvReader, RowLimitCountsDataRowsOnly) {
  ReadLimits limits;
  limits.max_rows = 2;
  EXPECT_EQ(Rows("a\n1\n\n,\n2\n", limits).size(), 3u);
  absl::Status status = ReadError("a\n1\n\n2\n3\n", limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "row 5: more than 2 data rows (limit 2)");
}

TEST(CsvReader, ColumnLimit) {
  ReadLimits limits;
  limits.max_columns = 3;
  EXPECT_EQ(Rows("a,b,c\n1,2,3\n4,5,6,,,,,,,\n", limits).size(), 3u);
  absl::Status status = ReadError("a,b,c\n1,2,3\n\n4,5,6,,7\n", limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "row 4: more than 3 columns (limit 3)");
  EXPECT_EQ(ReadError("a,b,c,d\n", limits).message(), "row 1: more than 3 columns (limit 3)");
  EXPECT_EQ(ReadError("a,b\n1,2,3,\"\"\"\"\n", limits).message(),
            "row 2: more than 3 columns (limit 3)");
}

TEST(CsvReader, ColumnLimitMessageMatchesTheSpecExample) {
  ReadLimits limits;  // 256 columns
  std::string data = "a\n";
  for (int i = 2; i < 70002; ++i) data += "1\n";
  for (int i = 0; i < 257; ++i) data += "x,";
  absl::Status status = ReadError(data, limits);
  EXPECT_EQ(status.message(), "row 70002: more than 256 columns (limit 256)");
}

TEST(CsvReader, CellLimitCountsUnquotedBytes) {
  ReadLimits limits;
  limits.max_cell_bytes = 4;
  EXPECT_THAT(Rows("abcd,\"ab\"\"c\"\n", limits), ElementsAre(TestRow{1, {"abcd", "ab\"c"}}));
  absl::Status status = ReadError("a,b\n1,abcde\n", limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "row 2: cell in column 2 longer than 4 bytes (limit 4)");
  EXPECT_EQ(ReadError("a\n\"abc\"\"d\"\n", limits).message(),
            "row 2: cell in column 1 longer than 4 bytes (limit 4)");
  // Windows-1252 text is measured after transcoding: 0x80 is 3 bytes of UTF-8.
  EXPECT_EQ(ReadError("a\n\x80\x80\n", limits).message(),
            "row 2: cell in column 1 longer than 4 bytes (limit 4)");
}

TEST(CsvReader, CellLimitStopsARunawayQuoteBeforeTheEnd) {
  ReadLimits limits;
  limits.max_cell_bytes = 100;
  CsvOptions options;
  options.read_bytes = 64;
  options.sniff_bytes = 0;
  std::string data = "a,b\n1,\"oops\n";
  for (int i = 0; i < 10000; ++i) data += "2,x\n";
  absl::Status status = ReadError(data, limits, options);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(),
            "row 2: cell in column 2 longer than 100 bytes (limit 100); is a closing quote "
            "missing?");
}

TEST(CsvReader, FloodOfEmptyCellsIsBounded) {
  ReadLimits limits;
  limits.max_columns = 2;
  limits.max_cell_bytes = 4;
  // (2 * 4 + 3) * 2 + 1 MiB = 1048598 bytes of raw record at most.
  std::string data = "a,b\n" + std::string(3000000, ',') + "\n";
  absl::Status status = ReadError(data, limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "row 2: row longer than 1048598 bytes (limit 2 columns of 4 bytes)");
}

TEST(CsvReader, LongRecordsGrowTheBuffer) {
  const std::string cell(3 << 20, 'x');
  CsvOptions options;
  options.read_bytes = 4096;
  absl::StatusOr<Table> table = ReadAll("a,b\n\"" + cell + "\"," + cell + "\n1,2\n",
                                        ReadLimits{.max_cell_bytes = 4 << 20}, options);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->rows.size(), 3u);
  EXPECT_EQ(table->rows[1].cells[0], cell);
  EXPECT_EQ(table->rows[1].cells[1], cell);
  EXPECT_EQ(table->rows[2], (TestRow{3, {"1", "2"}}));
}

// ---------------------------------------------------------------------------------------------
// Malformed input.

TEST(CsvReader, UnterminatedQuoteNamesTheRowWhereItBegan) {
  absl::Status status = ReadError("a,b\n1,2\n3,\"open\n4,5\n6,7\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "row 3: unterminated quoted field starting in row 3, column 2 (no closing quote "
            "before the end of the file)");
  EXPECT_THAT(ReadError("a\n\"").message(), HasSubstr("row 2: unterminated"));
  EXPECT_THAT(ReadError("a\n\"x\"\"").message(), HasSubstr("row 2: unterminated"));
}

TEST(CsvReader, QuoteInsideUnquotedFieldIsAnError) {
  absl::Status status = ReadError("a,b\n1,ab\"c\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("row 2: quote character inside an unquoted field in column 2"));
  EXPECT_EQ(ReadError("a,b\n1,x \"c\"\n").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadError("a\n1\"\n").code(), absl::StatusCode::kInvalidArgument);
}

TEST(CsvReader, TextAfterClosingQuoteIsAnError) {
  absl::Status status = ReadError("a,b\n\n\"a\"b,c\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "row 3: unexpected text after the closing quote in column 1");
  EXPECT_EQ(ReadError("a,b\n\"a\" \"b\",c\n").code(), absl::StatusCode::kInvalidArgument);
}

TEST(CsvReader, RowsBeforeAnErrorAreReturnedAndTheErrorIsSticky) {
  CsvReader reader(std::make_unique<StringByteSource>("a\n1\n\"x\"y\n2\n"));
  Row row;
  ASSERT_TRUE(*reader.Next(row));
  ASSERT_TRUE(*reader.Next(row));
  EXPECT_EQ(row.number, 2);
  absl::StatusOr<bool> next = reader.Next(row);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(reader.Next(row).status(), next.status());
}

TEST(CsvReader, SourceErrorsArePassedOn) {
  CsvReader reader(std::make_unique<FailingSource>(), {}, CsvOptions{.sniff_bytes = 0});
  Row row;
  absl::StatusOr<bool> next = reader.Next(row);
  // The first Read already returned everything it had; the second fails.
  while (next.ok() && *next) next = reader.Next(row);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss);
}

// ---------------------------------------------------------------------------------------------
// The same bytes read the same whatever the chunking.

std::string Describe(const absl::StatusOr<Table>& table) {
  if (!table.ok()) return table.status().ToString();
  std::string out = table->encoding + " '" + std::string(1, table->delimiter) + "'\n";
  for (const TestRow& row : table->rows) {
    out += std::to_string(row.number) + ": " + absl::StrJoin(row.cells, "|") + "\n";
  }
  return out;
}

const std::vector<std::string>& ChunkingCorpus() {
  static const auto* corpus = new std::vector<std::string>{
      "phoneNumber,name,notes\n2125551234,\"Doe, Jane\",\"a\nb\"\n\n,,\n2125551235,Bob,x\n",
      "a,b\r\n1,2\r3,4\n\r\n\"x\r\ny\",\"\"\"\"\r\n",
      "\xEF\xBB\xBFphone;name\r\n1;M\xC3\xBCller\r\n2;\"a;b\"\r\n",
      "name\nM\xFCller\n\x80\n",
      Utf16(u"phone\tname\r\n1\tZo\u00EB\r\n2\t\U0001F600\r\n\r\n3\t\"a\tb\"", false),
      Utf16(u"phone,name\n1,\u00FC\xD800\n", true) + "x",
      "sep=|\r\na|b\r\n1|2",
      "a,b\n  \"x\"  ,\"y\" \n1,\n",
      "a,b\n1,\"open\n2,3\n",
      "a,b\n1,ab\"c\n",
      "a,b\n\"a\"b\n",
      std::string("a\n1\n\0\n", 6),
      "a,b\n1,2\r",
      "a,b\r",
      "\r\n\r\n",
      // Several problems in one record: the earliest one is reported, however the bytes arrive.
      std::string("\x91\n\x00"
                  "0\x00\x00\x00k\"l0-\x00y",
                  15),
      "a\n0123456789abcdef\"x\n",
      "a\n\"0123456789\"\"abcdefghijklmnopqrstuvwxyz\n",
      "a\n\"0123456789abcdefghijklmnopqrstuvwxyz\"\"\"x\n",
      std::string("a\n0123456789\0abcdef\n", 20),
      "a,b,c,d,e\n1,2,3,4,5,6\"\n",
      "a\n" + std::string(40, ' ') + "\"x\"\n",
      "a\n\"x\"" + std::string(40, ' ') + "y\n",
  };
  return *corpus;
}

TEST(CsvReader, ChunkBoundariesDoNotChangeTheResult) {
  ReadLimits small;
  small.max_rows = 3;
  small.max_columns = 4;
  small.max_cell_bytes = 8;
  for (const std::string& data : ChunkingCorpus()) {
    for (const ReadLimits& limits : {ReadLimits{}, small}) {
      // Small sniff windows exercise the per-record encoding switch and header completion.
      for (const size_t sniff : {size_t{0}, size_t{3}, size_t{20}, size_t{1} << 20}) {
        CsvOptions options;
        options.sniff_bytes = sniff;
        options.read_bytes = 64;
        const std::string expected = Describe(ReadAll(data, limits, options));
        EXPECT_EQ(Describe(ReadAll(std::make_unique<StringByteSource>(data, 1), limits, options)),
                  expected)
            << absl::CHexEscape(data) << " sniff " << sniff;
        for (uint32_t seed = 1; seed <= 20; ++seed) {
          EXPECT_EQ(Describe(ReadAll(std::make_unique<RandomChunkSource>(data, seed, 7), limits,
                                     options)),
                    expected)
              << absl::CHexEscape(data) << " sniff " << sniff << " seed " << seed;
        }
      }
    }
  }
}

TEST(CsvReader, TheEarliestProblemInARowIsReported) {
  ReadLimits limits;
  limits.max_cell_bytes = 8;
  // The cell passes its limit before the stray quote.
  EXPECT_EQ(ReadError("a\n0123456789\"x\n", limits).message(),
            "row 2: cell in column 1 longer than 8 bytes (limit 8)");
  // The NUL comes before the stray quote.
  EXPECT_EQ(ReadError(std::string("a\nx\0y\"z\n", 9), limits).message(),
            "row 2: NUL byte (binary file?)");
  // A quoted cell longer than 2 * 8 + 2 raw bytes is too long whatever it holds.
  EXPECT_EQ(ReadError("a\n\"0123456789abcdefgh\"\n", limits).message(),
            "row 2: cell in column 1 longer than 8 bytes (limit 8); is a closing quote missing?");
  EXPECT_EQ(ReadError("a\n\"01234567\"\"\"\n", limits).message(),
            "row 2: cell in column 1 longer than 8 bytes (limit 8)");
}

TEST(CsvReader, LargeInputReadsTheSameInSmallAndLargeChunks) {
  std::mt19937 rng(42);
  std::string data = "phoneNumber,name,notes\r\n";
  for (int i = 0; i < 20000; ++i) {
    data += std::to_string(2125550000 + i);
    data += ",";
    data += (rng() % 3 == 0) ? "\"Doe, J\"\"r\"\"\"" : "Ann";
    data += ",";
    if (rng() % 25 == 0) data += "\"line\nbreak\"";
    data += (rng() % 2 == 0) ? "\r\n" : "\n";
    if (rng() % 50 == 0) data += ",,\n";
  }
  const std::string expected = Describe(ReadAll(data));
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    CsvOptions options;
    options.read_bytes = 100 + seed * 37;
    EXPECT_EQ(Describe(ReadAll(std::make_unique<RandomChunkSource>(data, seed, 5000), {}, options)),
              expected);
  }
  absl::StatusOr<Table> table = ReadAll(data);
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->rows.size(), 20001u);
}

}  // namespace
}  // namespace nexus::ingest

// Tests for ingest::OpenXlsReader (the child-process XLS reader) and ingest::ReadXlsRows (the
// FreeXL side, in-process). Fixtures: tests/data/xls/make_fixtures.py. Misbehaving children:
// xls_fake_helper.cc, selected by NEXUS_FAKE_XLS_MODE.
#include "ingest/xls_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingest/xls_child.h"

namespace nexus::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct ReadRow {
  int64_t number;
  std::vector<std::string> cells;
  bool operator==(const ReadRow&) const = default;
};

void PrintTo(const ReadRow& row, std::ostream* os) {
  *os << row.number << ":";
  for (const std::string& cell : row.cells) *os << " [" << cell << "]";
}

struct Result {
  std::vector<ReadRow> rows;
  absl::Status status;  // the error that ended reading, or OK at the end of the sheet
};

std::string Fixture(const std::string& name) { return std::string(NEXUS_XLS_TEST_DATA "/") + name; }

XlsOptions RealHelper() {
  XlsOptions options;
  options.helper_path = NEXUS_XLS_HELPER;
  options.inherit_stderr = true;
  return options;
}

Result ReadAll(const std::string& path, const ReadLimits& limits = {},
               const XlsOptions& options = RealHelper()) {
  Result result;
  absl::StatusOr<std::unique_ptr<TableReader>> reader = OpenXlsReader(path, limits, options);
  if (!reader.ok()) {
    result.status = reader.status();
    return result;
  }
  Row row;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(row);
    if (!more.ok()) {
      result.status = more.status();
      EXPECT_EQ((*reader)->Next(row).status(), more.status()) << "errors are sticky";
      break;
    }
    if (!*more) {
      absl::StatusOr<bool> again = (*reader)->Next(row);
      EXPECT_TRUE(again.ok() && !*again) << "the end is sticky";
      EXPECT_EQ((*reader)->encoding(), "utf-8");
      break;
    }
    result.rows.push_back(
        {row.number, std::vector<std::string>(row.cells.begin(), row.cells.end())});
  }
  return result;
}

// The fake helper in `mode`.
class XlsFakeHelperTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ::unsetenv("NEXUS_FAKE_XLS_MODE");
    // Every child was reaped: no child, zombie or running, is left.
    errno = 0;
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
  }

  static Result Run(const char* mode, ReadLimits limits = {}, int64_t wall_ms = 20'000,
                    int cpu_seconds = 10) {
    ::setenv("NEXUS_FAKE_XLS_MODE", mode, 1);
    XlsOptions options;
    options.helper_path = NEXUS_XLS_FAKE_HELPER;
    options.wall_ms = wall_ms;
    options.cpu_seconds = cpu_seconds;
    return ReadAll(Fixture("values.xls"), limits, options);
  }
};

absl::Status Corrupt(const std::string& why) {
  return absl::InvalidArgumentError("corrupt or unreadable XLS file (" + why + ")");
}

const std::vector<std::string> kHeader = {"phoneNumber", "name",   "amount",
                                          "joined",      "active", "notes"};

TEST(XlsReaderTest, ReadsTypedCellsWithSpreadsheetRowNumbers) {
  const Result result = ReadAll(Fixture("values.xls"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(
      result.rows,
      ElementsAre(
          ReadRow{1, kHeader},
          // 12125551234 is a NUMBER record (a double): no exponent, no ".0". Booleans are
          // BOOLERR records (FreeXL reads them as 1/0; the BIFF scan restores true/false).
          ReadRow{2, {"12125551234", "Ann", "12.5", "2024-03-05", "true", "first note"}},
          // row 3 is blank; a datetime keeps its date
          ReadRow{4, {"+1 212 555 0000", "Bob", "0.1", "2023-12-31", "false", ""}},
          // row 5 has only whitespace: blank. Row 6 is sparse, with a cell beyond the header.
          ReadRow{6, {"", "", "", "", "", "only notes", "", "beyond"}},
          // the formula cell (column E) has no cached value (xlwt writes none): empty
          ReadRow{7, {"-42", "Zoë 日本", "100000000000000000000", "1999-12-31", "", "  padded  "}},
          ReadRow{8, {"7", "x", "1234.5678", "", "", ""}}));
}

TEST(XlsReaderTest, HeaderAfterBlankRows) {
  const Result result = ReadAll(Fixture("blank_start.xls"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows,
              ElementsAre(ReadRow{3, {"phoneNumber", "name"}}, ReadRow{4, {"2125550100", "Cy"}}));
}

TEST(XlsReaderTest, EmptySheetHasNoRows) {
  const Result result = ReadAll(Fixture("empty.xls"));
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_TRUE(result.rows.empty());
}

TEST(XlsReaderTest, Dates1904) {
  const Result result = ReadAll(Fixture("dates1904.xls"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, ElementsAre(ReadRow{1, {"joined"}}, ReadRow{2, {"2024-03-05"}}));
}

TEST(XlsReaderTest, ReadsTheFirstSheetInWorkbookOrder) {
  const Result result = ReadAll(Fixture("sheet_order.xls"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows,
              ElementsAre(ReadRow{1, {"sheet"}}, ReadRow{2, {"second-named, first in order"}}));
}

TEST(XlsReaderTest, FormulasReadAsTheirCachedValues) {
  const Result result = ReadAll(Fixture("formulas.xls"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(
      result.rows,
      ElementsAre(ReadRow{1, {"number", "date", "text", "flag", "error", "bool", "nocache"}},
                  // 0.1+0.2 (15 significant digits), a date-formatted result, a string result from
                  // the STRING record, a boolean result, an error result (#N/A: empty), a BOOLERR
                  // FALSE, a formula without a cached value
                  ReadRow{2, {"0.3", "2024-03-05", "+1 212 555 0100 ☎", "true", "", "false", ""}},
                  // a BOOLERR error cell (#N/A) reads as empty, as in the XLSX reader
                  ReadRow{3, {"12125551234", "", "", "false", "", "true", ""}}));
}

TEST(XlsReaderTest, SkipsSheetsThatAreNotWorksheets) {
  const Result result = ReadAll(Fixture("chart_first.xls"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.rows, ElementsAre(ReadRow{1, {"sheet"}}, ReadRow{2, {"first worksheet"}}));
}

TEST(XlsReaderTest, RowLimitNamesTheRow) {
  ReadLimits limits;
  limits.max_rows = 2;
  const Result result = ReadAll(Fixture("values.xls"), limits);
  EXPECT_EQ(result.rows.size(), 3u);
  EXPECT_EQ(result.status, absl::ResourceExhaustedError("row 6: more than 2 data rows (limit 2)"));
}

TEST(XlsReaderTest, ColumnLimitCountsNonBlankCells) {
  ReadLimits limits;
  limits.max_columns = 7;  // row 6 has a cell in column 8
  const Result result = ReadAll(Fixture("values.xls"), limits);
  EXPECT_EQ(result.rows.size(), 3u);
  EXPECT_EQ(result.status, absl::ResourceExhaustedError("row 6: more than 7 columns (limit 7)"));

  limits.max_columns = 8;
  EXPECT_TRUE(ReadAll(Fixture("values.xls"), limits).status.ok());
}

TEST(XlsReaderTest, CellLimit) {
  ReadLimits limits;
  limits.max_cell_bytes = 11;  // "phoneNumber" fits; "+1 212 555 0000" (row 4) does not
  const Result result = ReadAll(Fixture("values.xls"), limits);
  EXPECT_EQ(result.rows.size(), 2u);
  EXPECT_EQ(result.status, absl::ResourceExhaustedError(
                               "row 4: cell in column 1 longer than 11 bytes (limit 11)"));
}

TEST(XlsReaderTest, EncryptedWorkbooks) {
  const absl::Status encrypted =
      absl::InvalidArgumentError("encrypted workbook: remove the password and upload again");
  EXPECT_EQ(ReadAll(Fixture("encrypted_filepass.xls")).status, encrypted);
  EXPECT_EQ(ReadAll(Fixture("encrypted_scrambled.xls")).status, encrypted);
}

TEST(XlsReaderTest, CorruptFiles) {
  for (const char* name : {"truncated.xls", "garbage_ole2.xls"}) {
    const Result result = ReadAll(Fixture(name));
    EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(std::string(result.status.message()),
                StartsWith("corrupt or unreadable XLS file ("))
        << name;
    EXPECT_TRUE(result.rows.empty()) << name;
  }
}

// Inputs found by fuzz/xls_reader_fuzz.cc that crash FreeXL 1.0.6 or make it overrun memory,
// allocate without bound or loop: screened before FreeXL, or contained in the child. Either way
// the reader answers a clean error (or, for the last, an empty sheet) within the limits.
TEST(XlsReaderTest, FuzzerFindingsAreContained) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadAll(Fixture("fuzz/dir_name_overflow.xls")).status,
            Corrupt("invalid compound file directory entry"));
  EXPECT_EQ(ReadAll(Fixture("fuzz/format_string_overrun.xls")).status,
            Corrupt("invalid string in a BIFF record"));
  EXPECT_EQ(ReadAll(Fixture("fuzz/broken_directory_chain.xls")).status,
            Corrupt("invalid compound file or BIFF structure"));
  EXPECT_EQ(ReadAll(Fixture("fuzz/difat_memory_blowup.xls")).status,
            Corrupt("invalid compound file or BIFF structure"));
  // FreeXL itself misreads memory on these (a wild read in its SST parser; a heap over-read when
  // it frees the sheet): the child dies (always under ASan) or FreeXL fails or reads garbage,
  // depending on what lies there; the parent reports an error either way.
  for (const char* name : {"fuzz/sst_wild_read.xls", "fuzz/close_heap_overread.xls"}) {
    const Result result = ReadAll(Fixture(name));
    EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(std::string(result.status.message()),
                StartsWith("corrupt or unreadable XLS file ("))
        << name;
  }
  const Result empty = ReadAll(Fixture("fuzz/rows_without_columns.xls"));  // 2^30 rows × 0 columns
  EXPECT_TRUE(empty.status.ok()) << empty.status;
  EXPECT_TRUE(empty.rows.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(XlsReaderTest, RefusesBeforeStartingTheChild) {
  EXPECT_EQ(
      ReadAll(Fixture("make_fixtures.py")).status,
      absl::InvalidArgumentError("corrupt or unreadable XLS file (not an OLE2 compound file)"));
  EXPECT_EQ(ReadAll(Fixture("no-such-file.xls")).status.code(), absl::StatusCode::kNotFound);

  XlsOptions small = RealHelper();
  small.max_file_bytes = 1000;
  const Result too_big = ReadAll(Fixture("values.xls"), {}, small);
  EXPECT_EQ(too_big.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(too_big.status.message()),
              HasSubstr("larger than the limit of 1000 bytes"));

  XlsOptions missing = RealHelper();
  missing.helper_path = "/nonexistent/nexus-xls-reader";
  EXPECT_EQ(ReadAll(Fixture("values.xls"), {}, missing).status.code(), absl::StatusCode::kInternal);
}

TEST(XlsReaderTest, HelperPathResolution) {
  XlsOptions options;
  ::unsetenv("NEXUS_XLS_HELPER");
  EXPECT_THAT(ResolveXlsHelperPath(options), testing::EndsWith("/src/ingest/nexus-xls-reader"));
  ::setenv("NEXUS_XLS_HELPER", "/from/env", 1);
  EXPECT_EQ(ResolveXlsHelperPath(options), "/from/env");
  options.helper_path = "/from/options";
  EXPECT_EQ(ResolveXlsHelperPath(options), "/from/options");
  ::unsetenv("NEXUS_XLS_HELPER");
}

TEST(XlsReaderTest, ReadersRunSideBySideAndDestroyKillsTheChild) {
  auto a = OpenXlsReader(Fixture("values.xls"), {}, RealHelper());
  auto b = OpenXlsReader(Fixture("blank_start.xls"), {}, RealHelper());
  ASSERT_TRUE(a.ok() && b.ok());
  Row row;
  ASSERT_TRUE(*(*a)->Next(row));
  EXPECT_EQ(row.number, 1);
  ASSERT_TRUE(*(*b)->Next(row));
  EXPECT_EQ(row.number, 3);
  ASSERT_TRUE(*(*a)->Next(row));
  EXPECT_EQ(row.number, 2);
  a->reset();  // mid-sheet
  b->reset();
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

// --- Misbehaving children -------------------------------------------------------------------

TEST_F(XlsFakeHelperTest, Crashes) {
  EXPECT_EQ(Run("segv").status, Corrupt("parser crashed with signal 11 (SIGSEGV)"));
  EXPECT_EQ(Run("abort").status, Corrupt("parser crashed with signal 6 (SIGABRT)"));
  EXPECT_EQ(Run("exit1").status, Corrupt("parser exited with status 1"));
  EXPECT_EQ(Run("exit3").status, Corrupt("parser ran out of memory"));
}

TEST_F(XlsFakeHelperTest, CrashAfterSomeRows) {
  const Result result = Run("rows_then_crash");
  EXPECT_THAT(result.rows,
              ElementsAre(ReadRow{1, {"phoneNumber", "name"}}, ReadRow{2, {"12125551234", "Ann"}}));
  EXPECT_EQ(result.status, Corrupt("parser crashed with signal 11 (SIGSEGV)"));
}

TEST_F(XlsFakeHelperTest, MalformedOutput) {
  EXPECT_EQ(Run("garbage").status, Corrupt("malformed parser output"));
  EXPECT_EQ(Run("bad_order").status, Corrupt("malformed parser output"));
  EXPECT_EQ(Run("many_cells").status, Corrupt("malformed parser output"));
  EXPECT_EQ(Run("no_end").status, Corrupt("parser ended without a result"));
  EXPECT_EQ(Run("truncated_frame").status, Corrupt("parser ended without a result"));
  EXPECT_EQ(Run("invalid_utf8").status, Corrupt("row 1: invalid text from the parser"));
  EXPECT_EQ(Run("end_then_exit1").status, Corrupt("parser exited with status 1"));
}

TEST_F(XlsFakeHelperTest, ErrorFrameMessageIsWrittenByTheParent) {
  EXPECT_EQ(Run("error_frame").status, Corrupt("invalid shared string table (FreeXL -15)"));
}

TEST_F(XlsFakeHelperTest, HugeCellIsRefusedWithoutReadingIt) {
  const auto start = std::chrono::steady_clock::now();
  const Result result = Run("huge_cell");
  EXPECT_EQ(result.status,
            absl::ResourceExhaustedError("row 1: cell in column 1 longer than 65536 bytes (limit "
                                         "65536)"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(XlsFakeHelperTest, WallClockLimitKillsAHungChild) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Run("sleep", {}, /*wall_ms=*/300).status, Corrupt("parser timed out after 300 ms"));
  EXPECT_EQ(Run("end_then_hang", {}, /*wall_ms=*/300).status,
            Corrupt("parser timed out after 300 ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(XlsFakeHelperTest, CpuLimitKillsASpinningChild) {
  const auto start = std::chrono::steady_clock::now();
  const Result result = Run("spin", {}, /*wall_ms=*/20'000, /*cpu_seconds=*/1);
  EXPECT_EQ(result.status, Corrupt("parser exceeded its CPU time limit (SIGXCPU)"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(XlsFakeHelperTest, ChildGetsOnlyItsPipeAndItsArguments) {
  const Result result = Run("environment");
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.rows.size(), 1u);
  EXPECT_THAT(result.rows[0].cells,
              ElementsAre("0", NEXUS_XLS_FAKE_HELPER, "--max-memory=536870912", "--cpu-seconds=10",
                          "--", Fixture("values.xls")));
}

// --- The FreeXL side, in-process --------------------------------------------------------------

TEST(ReadXlsRowsTest, StreamsNonBlankRowsWithoutTrailingEmptyCells) {
  std::vector<ReadRow> rows;
  const xls_protocol::ChildError error = ReadXlsRows(
      Fixture("values.xls").c_str(), [&](uint32_t number, std::span<const std::string_view> cells) {
        rows.push_back({number, std::vector<std::string>(cells.begin(), cells.end())});
        return true;
      });
  EXPECT_EQ(error.kind, xls_protocol::ErrorKind::kNone);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[1],
            (ReadRow{2, {"12125551234", "Ann", "12.5", "2024-03-05", "true", "first note"}}));
  EXPECT_EQ(rows[2], (ReadRow{4, {"+1 212 555 0000", "Bob", "0.1", "2023-12-31", "false"}}));
  EXPECT_EQ(rows[3], (ReadRow{6, {"", "", "", "", "", "only notes", "", "beyond"}}));
}

TEST(ReadXlsRowsTest, SinkCanStop) {
  int calls = 0;
  const xls_protocol::ChildError error =
      ReadXlsRows(Fixture("values.xls").c_str(), [&](uint32_t, std::span<const std::string_view>) {
        ++calls;
        return false;
      });
  EXPECT_EQ(error.kind, xls_protocol::ErrorKind::kNone);
  EXPECT_EQ(calls, 1);
}

TEST(ReadXlsRowsTest, Errors) {
  auto kind = [](const std::string& name) {
    return ReadXlsRows(Fixture(name).c_str(),
                       [](uint32_t, std::span<const std::string_view>) { return true; })
        .kind;
  };
  EXPECT_EQ(kind("encrypted_filepass.xls"), xls_protocol::ErrorKind::kEncrypted);
  EXPECT_EQ(kind("encrypted_scrambled.xls"), xls_protocol::ErrorKind::kEncrypted);
  EXPECT_EQ(kind("make_fixtures.py"), xls_protocol::ErrorKind::kNotOle2);
  EXPECT_EQ(kind("no-such-file.xls"), xls_protocol::ErrorKind::kOpen);
  EXPECT_EQ(kind("garbage_ole2.xls"), xls_protocol::ErrorKind::kBadStructure);
  EXPECT_EQ(kind("truncated.xls"), xls_protocol::ErrorKind::kBadStructure);
  // Found by the fuzzer: FreeXL 1.0.6 over-reads its stack on a long directory entry name.
  EXPECT_EQ(kind("fuzz/dir_name_overflow.xls"), xls_protocol::ErrorKind::kBadDirectory);
  EXPECT_EQ(kind("fuzz/format_string_overrun.xls"), xls_protocol::ErrorKind::kBadRecord);
  EXPECT_EQ(kind("fuzz/broken_directory_chain.xls"), xls_protocol::ErrorKind::kBadStructure);
}

}  // namespace
}  // namespace nexus::ingest

// Tests for ingest::OpenTable: the reader follows the file name and the content.
#include "ingest/open_table.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nexus::ingest {
namespace {

std::string Fixture(const std::string& name) { return std::string(NEXUS_XLS_TEST_DATA "/") + name; }

std::vector<std::vector<std::string>> ReadRows(TableReader& reader) {
  std::vector<std::vector<std::string>> rows;
  Row row;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(row);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) return rows;
    rows.emplace_back(row.cells.begin(), row.cells.end());
  }
}

class OpenTableTest : public ::testing::Test {
 protected:
  // OpenTable uses the default XlsOptions: the helper comes from the environment here (the test
  // binary does not sit next to it).
  void SetUp() override { ::setenv("NEXUS_XLS_HELPER", NEXUS_XLS_HELPER, 1); }
  void TearDown() override { ::unsetenv("NEXUS_XLS_HELPER"); }
};

TEST_F(OpenTableTest, Csv) {
  char path[] = "/tmp/nexus_open_table_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string csv = "phoneNumber;name\n2125550100;Ann\n";
  ASSERT_EQ(::write(fd, csv.data(), csv.size()), static_cast<ssize_t>(csv.size()));
  ::close(fd);
  absl::StatusOr<std::unique_ptr<TableReader>> reader = OpenTable(path, "Contacts.CSV", {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(ReadRows(**reader), (std::vector<std::vector<std::string>>{{"phoneNumber", "name"},
                                                                       {"2125550100", "Ann"}}));
  ::unlink(path);
}

TEST_F(OpenTableTest, Xls) {
  absl::StatusOr<std::unique_ptr<TableReader>> reader =
      OpenTable(Fixture("blank_start.xls"), "upload.xls", {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(ReadRows(**reader),
            (std::vector<std::vector<std::string>>{{"phoneNumber", "name"}, {"2125550100", "Cy"}}));
}

TEST_F(OpenTableTest, RefusesMismatches) {
  absl::StatusOr<std::unique_ptr<TableReader>> reader =
      OpenTable(Fixture("values.xls"), "upload.csv", {});
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  reader = OpenTable(Fixture("values.xls"), "upload.xlsx", {});
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  reader = OpenTable(Fixture("ole2_encryption_info.xlsx"), "secret.xlsx", {});
  EXPECT_EQ(reader.status(),
            absl::InvalidArgumentError("encrypted workbook: remove the password and upload again"));
  reader = OpenTable(Fixture("missing.csv"), "missing.csv", {});
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace nexus::ingest

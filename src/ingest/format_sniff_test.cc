// Tests for ingest::DetectFileFormat (extension + magic bytes, SPEC §4 "file").
#include "ingest/format_sniff.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nexus::ingest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Fixture(const std::string& name) { return std::string(NEXUS_XLS_TEST_DATA "/") + name; }

std::string Head(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes(512, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

const std::string kZip("PK\x03\x04\x14\x00\x00\x00", 8);
const std::string kEmptyZip("PK\x05\x06\x00\x00\x00\x00", 8);
const std::string kOle2("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);

void ExpectUnsupported(const absl::StatusOr<FileFormat>& result, const std::string& part) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              StartsWith("unsupported or invalid file type: "));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(part));
}

TEST(FormatSniffTest, ExtensionAndContentAgree) {
  EXPECT_EQ(*DetectFileFormat("contacts.csv", "phone,name\n", ""), FileFormat::kCsv);
  EXPECT_EQ(*DetectFileFormat("contacts.CSV", "", ""), FileFormat::kCsv);  // empty: reader decides
  EXPECT_EQ(*DetectFileFormat("u16.csv", "\xFF\xFEp\0", ""), FileFormat::kCsv);
  EXPECT_EQ(*DetectFileFormat("Book.XLSX", kZip, ""), FileFormat::kXlsx);
  EXPECT_EQ(*DetectFileFormat("dir.x/old.Xls", Head(Fixture("values.xls")), Fixture("values.xls")),
            FileFormat::kXls);
  EXPECT_EQ(*DetectFileFormat("C:\\Users\\a.b\\list.v2.csv", "a,b", ""), FileFormat::kCsv);
}

TEST(FormatSniffTest, CsvWithBinaryContent) {
  ExpectUnsupported(DetectFileFormat("a.csv", kZip, ""), "ZIP");
  ExpectUnsupported(DetectFileFormat("a.csv", kEmptyZip, ""), "ZIP");
  ExpectUnsupported(DetectFileFormat("a.csv", kOle2, ""), "OLE2");
  ExpectUnsupported(DetectFileFormat("a.csv", "\x89PNG\r\n\x1a\n", ""), "PNG");
  ExpectUnsupported(DetectFileFormat("a.csv", "%PDF-1.7", ""), "PDF");
  ExpectUnsupported(DetectFileFormat("a.csv",
                                     "\x7F"
                                     "ELF\x02\x01\x01",
                                     ""),
                    "ELF");
  ExpectUnsupported(DetectFileFormat("a.csv", "\x1F\x8B\x08\x00", ""), "GZIP");
}

TEST(FormatSniffTest, XlsxMustBeAZip) {
  ExpectUnsupported(DetectFileFormat("a.xlsx", kEmptyZip, ""), "empty ZIP archive");
  ExpectUnsupported(DetectFileFormat("a.xlsx", "phone,name\n", ""), "not a ZIP archive");
  ExpectUnsupported(DetectFileFormat("a.xlsx", "", ""), "not a ZIP archive");
  ExpectUnsupported(
      DetectFileFormat("a.xlsx", Head(Fixture("values.xls")), Fixture("values.xls")),
      "this is an old .xls workbook saved with an .xlsx name: rename it to .xls or save as .xlsx");
}

TEST(FormatSniffTest, EncryptedOoxmlIsAnOle2FileWithEncryptionInfo) {
  const std::string path = Fixture("ole2_encryption_info.xlsx");
  const absl::Status encrypted =
      absl::InvalidArgumentError("encrypted workbook: remove the password and upload again");
  EXPECT_EQ(DetectFileFormat("secret.xlsx", Head(path), path).status(), encrypted);
  EXPECT_EQ(DetectFileFormat("secret.xls", Head(path), path).status(), encrypted);
  EXPECT_TRUE(*HasEncryptionInfoStream(path));
  EXPECT_FALSE(*HasEncryptionInfoStream(Fixture("values.xls")));
  EXPECT_EQ(DetectFileFormat("gone.xlsx", kOle2, Fixture("gone.xlsx")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FormatSniffTest, EncryptionInfoCountsOnlyAtDirectoryEntryOffsets) {
  const std::string name("E\0n\0c\0r\0y\0p\0t\0i\0o\0n\0I\0n\0f\0o\0", 28);
  std::string bytes = kOle2 + std::string(2048, '\0');
  bytes.replace(512 + 3, name.size(), name);  // inside an entry: a cell's text, not a stream
  char path[] = "/tmp/nexus_sniff_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  EXPECT_FALSE(*HasEncryptionInfoStream(path));
  bytes.replace(512 + 256, name.size(), name);  // at an entry's start
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  EXPECT_TRUE(*HasEncryptionInfoStream(path));
  ::close(fd);
  ::unlink(path);
}

TEST(FormatSniffTest, XlsMustBeOle2) {
  ExpectUnsupported(DetectFileFormat("a.xls", kZip, ""),
                    "this is an .xlsx workbook saved with an .xls name: rename it to .xlsx");
  ExpectUnsupported(DetectFileFormat("a.xls", "<html><table>", ""), "not an OLE2 compound file");
  ExpectUnsupported(DetectFileFormat("a.xls", "phone\tname\n", ""), "not an OLE2 compound file");
}

TEST(FormatSniffTest, OtherSpreadsheetFormats) {
  for (const char* name : {"a.xlsm", "a.XLSB", "a.ods", "a.numbers"}) {
    ExpectUnsupported(DetectFileFormat(name, kZip, ""), "save as .xlsx or .csv");
  }
}

TEST(FormatSniffTest, OtherExtensions) {
  ExpectUnsupported(DetectFileFormat("a.txt", "a,b", ""), ".txt is not supported");
  ExpectUnsupported(DetectFileFormat("contacts", "a,b", ""), "no extension");
  ExpectUnsupported(DetectFileFormat("dir.csv/contacts", "a,b", ""), "no extension");
  ExpectUnsupported(DetectFileFormat("a.csv.exe", "MZ", ""), ".exe is not supported");
  ExpectUnsupported(DetectFileFormat("a.", "a,b", ""), "no extension");
}

}  // namespace
}  // namespace nexus::ingest

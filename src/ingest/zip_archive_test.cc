#include "ingest/zip_archive.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "ingest/xlsx_test_util.h"

namespace nexus::ingest {
namespace {

using ::nexus::ingest::testing::TempPath;
using ::testing::HasSubstr;

std::string ZipOf(const std::vector<testing::ZipFileEntry>& entries) {
  const std::string path = TempPath("archive.zip");
  EXPECT_TRUE(testing::WriteZip(path, entries).ok());
  return testing::ReadFileBytes(path);
}

std::string ReadAllOf(ZipArchive& zip, std::string_view name, size_t piece) {
  const ZipArchive::Entry* entry = zip.Find(name);
  EXPECT_NE(entry, nullptr) << name;
  if (entry == nullptr) return "";
  absl::StatusOr<std::unique_ptr<ZipArchive::EntryStream>> stream = zip.OpenEntry(*entry, 1 << 20);
  EXPECT_TRUE(stream.ok()) << stream.status();
  std::string out;
  std::string buffer(piece, '\0');
  for (;;) {
    absl::StatusOr<size_t> n = (*stream)->Read(buffer.data(), buffer.size());
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) return out;
    out.append(buffer.data(), *n);
  }
}

TEST(ZipArchive, FindsAndStreamsEntries) {
  const std::string bytes = ZipOf({{"a.txt", "hello"}, {"Dir\\B.xml", "x", 1000, true}});
  absl::StatusOr<std::unique_ptr<ZipArchive>> zip = ZipArchive::OpenBuffer(bytes, {});
  ASSERT_TRUE(zip.ok()) << zip.status();
  EXPECT_EQ((*zip)->entries().size(), 2u);
  EXPECT_EQ(ReadAllOf(**zip, "/A.TXT", 1), "hello");
  EXPECT_EQ(ReadAllOf(**zip, "dir/b.xml", 7), std::string(1000, 'x'));
  EXPECT_EQ((*zip)->total_inflated(), 1005u);
  EXPECT_EQ((*zip)->Find("missing"), nullptr);
}

TEST(ZipArchive, OneStreamAtATime) {
  const std::string bytes = ZipOf({{"a", "1"}, {"b", "2"}});
  absl::StatusOr<std::unique_ptr<ZipArchive>> zip = ZipArchive::OpenBuffer(bytes, {});
  ASSERT_TRUE(zip.ok());
  auto first = (*zip)->OpenEntry(*(*zip)->Find("a"), 10);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*zip)->OpenEntry(*(*zip)->Find("b"), 10).status().code(), absl::StatusCode::kInternal);
  first->reset();
  EXPECT_TRUE((*zip)->ReadEntry(*(*zip)->Find("b"), 10).ok());
}

TEST(ZipArchive, CapsTotalBytes) {
  const std::string bytes = ZipOf({{"a", "x", 600, true}, {"b", "y", 600, true}});
  ZipLimits limits;
  limits.max_total_bytes = 1000;
  absl::StatusOr<std::unique_ptr<ZipArchive>> zip = ZipArchive::OpenBuffer(bytes, limits);
  ASSERT_TRUE(zip.ok());
  EXPECT_TRUE((*zip)->ReadEntry(*(*zip)->Find("a"), 1000).ok());
  const absl::StatusOr<std::string> b = (*zip)->ReadEntry(*(*zip)->Find("b"), 1000);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("decompression bomb"));
}

TEST(ZipArchive, RefusesGarbage) {
  for (const std::string& bytes :
       {std::string(), std::string("PK\x03\x04"), std::string(5000, 'z')}) {
    absl::StatusOr<std::unique_ptr<ZipArchive>> zip = ZipArchive::OpenBuffer(bytes, {});
    EXPECT_EQ(zip.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(zip.status().message()), HasSubstr("corrupt XLSX file"));
  }
  EXPECT_EQ(ZipArchive::OpenFile(TempPath("nope.zip"), {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ZipArchive, NormalizeName) {
  EXPECT_EQ(ZipArchive::NormalizeName("/XL\\Worksheets/Sheet1.XML"), "xl/worksheets/sheet1.xml");
}

}  // namespace
}  // namespace nexus::ingest

#include "ingest/byte_source.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/status/status.h"

namespace nexus::ingest {
namespace {

std::string ReadEverything(ByteSource& source, size_t capacity) {
  std::string out;
  std::string buffer(capacity, '\0');
  for (;;) {
    absl::StatusOr<size_t> n = source.Read(buffer.data(), buffer.size());
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) break;
    EXPECT_LE(*n, capacity);
    out.append(buffer.data(), *n);
  }
  return out;
}

TEST(StringByteSource, ServesEverythingThenZero) {
  StringByteSource source("hello, world");
  EXPECT_EQ(ReadEverything(source, 5), "hello, world");
  char c;
  EXPECT_EQ(*source.Read(&c, 1), 0u);
}

TEST(StringByteSource, MaxReadCapsEachRead) {
  StringByteSource source("abc", 1);
  char buffer[8];
  EXPECT_EQ(*source.Read(buffer, sizeof buffer), 1u);
  EXPECT_EQ(buffer[0], 'a');
}

TEST(FileByteSource, ReadsAFileInChunks) {
  const std::string path = ::testing::TempDir() + "/byte_source_test.csv";
  std::string content;
  for (int i = 0; i < 10000; ++i) content += "row " + std::to_string(i) + "\n";
  {
    std::ofstream out(path, std::ios::binary);
    out << content;
  }
  absl::StatusOr<std::unique_ptr<FileByteSource>> source = FileByteSource::Open(path, 1000);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ(ReadEverything(**source, 4096), content);
  std::remove(path.c_str());
}

TEST(FileByteSource, MissingFileIsNotFound) {
  absl::StatusOr<std::unique_ptr<FileByteSource>> source =
      FileByteSource::Open(::testing::TempDir() + "/does/not/exist.csv");
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace nexus::ingest

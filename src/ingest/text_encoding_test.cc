#include "ingest/text_encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace nexus::ingest {
namespace {

size_t Invalid(std::string_view data, bool final = true) {
  size_t prefix = 0;
  return FindInvalidUtf8(data, final, &prefix);
}

TEST(FindInvalidUtf8, AcceptsValidText) {
  EXPECT_EQ(Invalid(""), kNotFound);
  EXPECT_EQ(Invalid("plain ASCII that is longer than sixteen bytes"), kNotFound);
  EXPECT_EQ(Invalid("M\xC3\xBCller \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF \xED\x9F\xBF"),
            kNotFound);
}

TEST(FindInvalidUtf8, RejectsMalformedSequences) {
  EXPECT_EQ(Invalid("ab\xFC"), 2u);            // Latin-1 ü
  EXPECT_EQ(Invalid("\xC0\xAF"), 0u);          // overlong /
  EXPECT_EQ(Invalid("\xC1\xBF"), 0u);          // overlong
  EXPECT_EQ(Invalid("x\xE0\x80\xAF"), 1u);     // overlong 3-byte
  EXPECT_EQ(Invalid("\xED\xA0\x80"), 0u);      // surrogate D800
  EXPECT_EQ(Invalid("\xF0\x80\x80\xAF"), 0u);  // overlong 4-byte
  EXPECT_EQ(Invalid("\xF4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(Invalid("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(Invalid("\x80"), 0u);                       // lone continuation
  EXPECT_EQ(Invalid("\xC3(", true), 0u);                // bad continuation
  EXPECT_EQ(Invalid("0123456789abcdef\xE2\x82"), 16u);  // truncated at the end of the file
}

TEST(FindInvalidUtf8, TruncatedTailIsNotAnErrorBeforeTheEnd) {
  size_t prefix = 0;
  EXPECT_EQ(FindInvalidUtf8("abc\xF0\x9F\x98", false, &prefix), kNotFound);
  EXPECT_EQ(prefix, 3u);
  EXPECT_EQ(FindInvalidUtf8("abc\xF0\x28", false, &prefix), 3u);  // already known bad
  EXPECT_EQ(FindInvalidUtf8("abc", false, &prefix), kNotFound);
  EXPECT_EQ(prefix, 3u);
}

TEST(Windows1252, MapsEveryHighByte) {
  std::string out;
  AppendWindows1252AsUtf8("M\xFC\x80\x9F\xA0\xFF\x81", out);
  EXPECT_EQ(out, "M\xC3\xBC\xE2\x82\xAC\xC5\xB8\xC2\xA0\xC3\xBF\xC2\x81");
  std::string all;
  for (int b = 0x80; b <= 0xFF; ++b) AppendWindows1252AsUtf8(std::string(1, char(b)), all);
  EXPECT_EQ(Invalid(all), kNotFound);
}

TEST(Utf16ToUtf8, StreamsAcrossSplitUnitsAndPairs) {
  // "a€😀" in UTF-16LE: 61 00 | AC 20 | 3D D8 00 DE
  const std::string in("\x61\x00\xAC\x20\x3D\xD8\x00\xDE", 8);
  const auto* bytes = reinterpret_cast<const unsigned char*>(in.data());
  char out[64];
  size_t written = 0;
  // Cut inside the pair: the high surrogate waits.
  EXPECT_EQ(Utf16ToUtf8(bytes, 6, false, false, out, &written), 4u);
  EXPECT_EQ(std::string(out, written), "a\xE2\x82\xAC");
  EXPECT_EQ(Utf16ToUtf8(bytes + 4, 4, false, false, out, &written), 4u);
  EXPECT_EQ(std::string(out, written), "\xF0\x9F\x98\x80");
  // Odd byte waits, then becomes U+FFFD at the end.
  EXPECT_EQ(Utf16ToUtf8(bytes, 3, false, false, out, &written), 2u);
  EXPECT_EQ(Utf16ToUtf8(bytes + 2, 1, false, true, out, &written), 1u);
  EXPECT_EQ(std::string(out, written), "\xEF\xBF\xBD");
}

TEST(Utf16ToUtf8, BigEndianAndUnpairedSurrogates) {
  const std::string in("\x00\x41\xDC\x00\xD8\x00\x00\x42", 8);
  char out[64];
  size_t written = 0;
  EXPECT_EQ(Utf16ToUtf8(reinterpret_cast<const unsigned char*>(in.data()), in.size(), true, true,
                        out, &written),
            8u);
  EXPECT_EQ(std::string(out, written),
            "A\xEF\xBF\xBD\xEF\xBF\xBD"
            "B");
}

}  // namespace
}  // namespace nexus::ingest

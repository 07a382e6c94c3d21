#include "core/json_escape.h"

#include <gtest/gtest.h>

namespace nexus::core {
namespace {

std::string Quoted(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Quoted("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\u0001")");
}

TEST(AppendJsonString, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(Quoted("M\xC3\xBCller"), "\"M\xC3\xBCller\"");
  EXPECT_EQ(Quoted("M\xFCller"), "\"M\xEF\xBF\xBDller\"");
  EXPECT_EQ(Quoted("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");                  // overlong '/'
  EXPECT_EQ(Quoted("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
}

}  // namespace
}  // namespace nexus::core

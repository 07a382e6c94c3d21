#include "store/search_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nexus::store {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

TEST(Folded, LowersAsciiAndFoldsOtherScripts) {
  EXPECT_EQ(Folded("Emily DAVIS"), "emily davis");
  EXPECT_EQ(Folded("JOS\xC3\x89 \xC3\x81lvarez"), "jos\xC3\xA9 \xC3\xA1lvarez");  // É Á
  EXPECT_EQ(Folded("\xCE\xA3\xCE\x9F\xCE\xA6\xCE\x99\xCE\x91"),                   // ΣΟΦΙΑ
            "\xCF\x83\xCE\xBF\xCF\x86\xCE\xB9\xCE\xB1");
  EXPECT_EQ(Folded("+12125550123"), "+12125550123");
  EXPECT_EQ(Folded(""), "");
}

TEST(Folded, KeepsBytesThatAreNotUtf8) {
  EXPECT_EQ(Folded(std::string_view("A\xFF"
                                    "B",
                                    3)),
            std::string_view("a\xFF"
                             "b",
                             3));
  EXPECT_EQ(Folded(std::string_view("\xC3", 1)), std::string_view("\xC3", 1));
}

TEST(CallSearchText, IsThePhoneAndEveryValueFoldedWithoutKeys) {
  EXPECT_EQ(CallSearchText("+12125550123", R"({"Name":"Emily DAVIS","account_id":"ACC-1"})"),
            "+12125550123\x1f"
            "emily davis\x1f"
            "acc-1");
  EXPECT_EQ(CallSearchText("+1", "{}"), "+1");
  EXPECT_EQ(CallSearchText("+1", ""), "+1");
}

TEST(CallSearchText, DecodesEveryJsonEscape) {
  EXPECT_EQ(CallSearchText("+1", R"({"k":"a\"b\\c\/d\te\u00C9\ud83d\ude00"})"),
            "+1\x1f"
            "a\"b\\c/d\te\xC3\xA9\xF0\x9F\x98\x80");
  // A lone surrogate becomes U+FFFD.
  EXPECT_EQ(CallSearchText("+1", R"({"k":"\ud800x"})"), "+1\x1f\xEF\xBF\xBDx");
}

TEST(CallSearchText, SkipsNonStringValuesAndStopsAtAFault) {
  EXPECT_EQ(CallSearchText("+1", R"({"a":1,"b":"X","c":true,"d":null})"),
            "+1\x1f"
            "x");
  EXPECT_EQ(CallSearchText("+1", R"({"a":"X","b":{"nested":"Y"},"c":"Z"})"),
            "+1\x1f"
            "x");
  EXPECT_EQ(CallSearchText("+1", R"({"a":"X)"), "+1");
}

TEST(CallMatches, IsASubstringOfTheSearchText) {
  const std::string_view json = R"({"name":"Emily DAVIS","city":"Paris"})";
  for (const std::string_view term : {"emily", "davis", "paris", "+1212", "555", "y d", ""}) {
    EXPECT_TRUE(CallMatches("+12125550123", json, term)) << term;
  }
  // Keys, text across two values, and JSON syntax never match.
  for (const std::string_view term : {"name", "city", "davisparis", "\"", ":", "zz", "paris,"}) {
    EXPECT_FALSE(CallMatches("+12125550123", json, term)) << term;
  }
}

TEST(CallMatches, AgreesWithTheSearchTextWhenTheFastPathCannotDecide) {
  // Escapes, non-ASCII text and terms with JSON-special characters take the exact path.
  const std::string_view escaped =
      R"({"k":"say \"hi\"","l":"a\\b","m":"\u0041BC","n":"Jos\u00e9"})";
  for (const std::string_view term :
       {"say \"hi\"", "a\\b", "abc", "jos\xC3\xA9", "\"hi", "k\":", "jos"}) {
    EXPECT_EQ(CallMatches("+1", escaped, term),
              CallSearchText("+1", escaped).find(term) != std::string::npos)
        << term;
  }
  EXPECT_TRUE(CallMatches("+1", escaped, "abc"));  // \u0041 is "A"
  // A non-ASCII character that folds to ASCII (U+212A KELVIN SIGN folds to "k").
  EXPECT_TRUE(CallMatches("+1", "{\"unit\":\"5 \xE2\x84\xAA\"}", "5 k"));
}

TEST(JsonStringArray, RoundTrips) {
  const std::vector<std::string> keys = {"name",        "account id", "quote\"d",
                                         "back\\slash", "\xC3\xA9",   std::string("ctl\x01", 4)};
  const std::string json = JsonStringArray(keys);
  EXPECT_THAT(ParseJsonStringArray(json), Optional(keys));
  EXPECT_EQ(JsonStringArray({}), "[]");
  EXPECT_THAT(ParseJsonStringArray("[]"), Optional(ElementsAre()));
  EXPECT_THAT(ParseJsonStringArray(" [ \"a\" , \"b\" ] "), Optional(ElementsAre("a", "b")));
}

TEST(JsonStringArray, RefusesOtherShapes) {
  EXPECT_EQ(ParseJsonStringArray(""), std::nullopt);
  EXPECT_EQ(ParseJsonStringArray("[1]"), std::nullopt);
  EXPECT_EQ(ParseJsonStringArray("[\"a\""), std::nullopt);
  EXPECT_EQ(ParseJsonStringArray("[\"a\"] x"), std::nullopt);
  EXPECT_EQ(ParseJsonStringArray("{\"a\":\"b\"}"), std::nullopt);
}

}  // namespace
}  // namespace nexus::store

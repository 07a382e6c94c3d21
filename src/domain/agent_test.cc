#include "domain/agent.h"

#include <gtest/gtest.h>

namespace nexus::domain {
namespace {

TEST(Agent, NormalizeColumnKeyIgnoresCaseSpacesUnderscoresAndDashes) {
  EXPECT_EQ(NormalizeColumnKey("Phone Number"), "phonenumber");
  EXPECT_EQ(NormalizeColumnKey("phone_number"), "phonenumber");
  EXPECT_EQ(NormalizeColumnKey("PHONE-NUMBER"), "phonenumber");
  EXPECT_EQ(NormalizeColumnKey("account_id"), "accountid");
}

TEST(Agent, VariableTypesRoundTrip) {
  for (const char* name : {"string", "number", "integer", "boolean", "date", "email"}) {
    auto type = ParseVariableType(name);
    ASSERT_TRUE(type.has_value()) << name;
    EXPECT_EQ(VariableTypeName(*type), name);
  }
  EXPECT_FALSE(ParseVariableType("datetime").has_value());
}

TEST(Agent, LanguageTagsFollowBcp47Shape) {
  for (const char* ok : {"en", "en-US", "es-419", "zh-Hant-TW", "fil"}) {
    EXPECT_TRUE(ValidateLanguageTag(ok).ok()) << ok;
  }
  for (const char* bad : {"", "e", "english", "en_US", "en-", "en--US", "1a", "en-toolongsubtag"}) {
    EXPECT_FALSE(ValidateLanguageTag(bad).ok()) << bad;
  }
}

TEST(Agent, DispatchUrlMustBeHttpOrHttps) {
  EXPECT_TRUE(ValidateDispatchUrl("https://runtime.example.com/calls").ok());
  EXPECT_TRUE(ValidateDispatchUrl("http://127.0.0.1:9000").ok());
  for (const char* bad :
       {"ftp://x", "runtime.example.com", "http://", "http://a b", "https://user@host/"}) {
    auto status = ValidateDispatchUrl(bad);
    EXPECT_FALSE(status.ok()) << bad;
    EXPECT_NE(status.message().find("dispatchUrl"), absl::string_view::npos);
  }
}

TEST(Agent, VariableKeysAreCheckedAndNamedByIndex) {
  EXPECT_TRUE(ValidateVariables({{"name", true}, {"account_id", false}}).ok());
  auto duplicate = ValidateVariables({{"account_id"}, {"Account-ID"}});
  EXPECT_NE(duplicate.message().find("variables[1].key"), absl::string_view::npos);
  auto reserved = ValidateVariables({{"phone_number"}});
  EXPECT_NE(reserved.message().find("reserved"), absl::string_view::npos);
  EXPECT_FALSE(ValidateVariables({{""}}).ok());
  EXPECT_FALSE(ValidateVariables({{"1st"}}).ok());
  EXPECT_FALSE(ValidateVariables({{"a.b"}}).ok());
}

}  // namespace
}  // namespace nexus::domain

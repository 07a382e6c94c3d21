#include "domain/phone.h"

#include <gtest/gtest.h>

namespace nexus::domain {
namespace {

TEST(Phone, NormalizesCommonSpellingsToE164) {
  for (const char* text : {"(212) 555-0123", "+1 212-555-0123", "2125550123", "12125550123",
                           "1-212-555-0123", "212.555.0123", "+12125550123"}) {
    auto e164 = NormalizePhoneNumber(text, "US");
    ASSERT_TRUE(e164.ok()) << text << ": " << e164.status();
    EXPECT_EQ(*e164, "+12125550123") << text;
  }
  EXPECT_EQ(*NormalizePhoneNumber("020 7946 0018", "GB"), "+442079460018");
}

TEST(Phone, InvalidNumbersSayWhichRegionWasAssumed) {
  for (const char* text : {"12", "555-0123", "hello", "", "1125550123"}) {
    auto e164 = NormalizePhoneNumber(text, "US");
    EXPECT_FALSE(e164.ok()) << text;
    EXPECT_EQ(e164.status().message(), "not a valid phone number for region US");
  }
  EXPECT_FALSE(NormalizePhoneNumber(std::string(300, '1'), "US").ok());
}

TEST(Phone, SupportedRegionsAreUppercaseIsoCodes) {
  EXPECT_TRUE(IsSupportedRegion("US"));
  EXPECT_TRUE(IsSupportedRegion("GB"));
  EXPECT_FALSE(IsSupportedRegion("us"));
  EXPECT_FALSE(IsSupportedRegion("XX"));
  EXPECT_FALSE(IsSupportedRegion("USA"));
}

}  // namespace
}  // namespace nexus::domain

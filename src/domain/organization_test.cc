#include "domain/organization.h"

#include <gtest/gtest.h>

namespace nexus::domain {
namespace {

TEST(Organization, DefaultsAreUtcUsAndTheTcpaLegalWindow) {
  Organization org;
  EXPECT_EQ(org.timezone, "UTC");
  EXPECT_EQ(org.default_country, "US");
  ASSERT_TRUE(org.legal_window.has_value());
  EXPECT_EQ(FormatTimeOfDay(org.legal_window->start), "08:00");
  EXPECT_EQ(FormatTimeOfDay(org.legal_window->end), "21:00");
}

TEST(Organization, KnowsIanaZonesAndRefusesPathsAndUnknownNames) {
  EXPECT_TRUE(IsKnownTimeZone("UTC"));
  EXPECT_TRUE(IsKnownTimeZone("America/New_York"));
  EXPECT_TRUE(IsKnownTimeZone("Australia/Lord_Howe"));
  EXPECT_FALSE(IsKnownTimeZone("Mars/Olympus_Mons"));
  EXPECT_FALSE(IsKnownTimeZone("../../etc/passwd"));
  EXPECT_FALSE(IsKnownTimeZone("/etc/localtime"));
  EXPECT_FALSE(IsKnownTimeZone(""));
}

TEST(Organization, NameMustBeNonEmptyAndBounded) {
  EXPECT_TRUE(ValidateOrganizationName("Acme").ok());
  EXPECT_FALSE(ValidateOrganizationName("   ").ok());
  EXPECT_FALSE(ValidateOrganizationName(std::string(201, 'a')).ok());
}

}  // namespace
}  // namespace nexus::domain

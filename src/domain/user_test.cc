#include "domain/user.h"

#include <gtest/gtest.h>

namespace nexus::domain {
namespace {

TEST(User, RolesRoundTripAndUnknownRolesAreRefused) {
  EXPECT_EQ(ParseRole("admin"), Role::kAdmin);
  EXPECT_EQ(ParseRole("member"), Role::kMember);
  EXPECT_FALSE(ParseRole("Admin").has_value());
  EXPECT_FALSE(ParseRole("owner").has_value());
  EXPECT_EQ(RoleName(Role::kAdmin), "admin");
}

TEST(User, EmailValidation) {
  EXPECT_TRUE(ValidateEmail("ops@example.com").ok());
  for (const char* bad : {"", "ops", "@example.com", "ops@", "ops@example", "o ps@example.com",
                          "a@b@example.com", "ops@example."}) {
    auto status = ValidateEmail(bad);
    EXPECT_FALSE(status.ok()) << bad;
    EXPECT_NE(status.message().find("email"), absl::string_view::npos);
  }
}

}  // namespace
}  // namespace nexus::domain

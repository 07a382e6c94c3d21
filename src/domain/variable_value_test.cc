#include "domain/variable_value.h"

#include <gtest/gtest.h>

namespace nexus::domain {
namespace {

struct Check {
  bool ok;
  std::string normalized;
  std::string message;
};

Check CheckValue(VariableType type, std::string_view value) {
  std::string scratch;
  std::string_view normalized, message;
  const bool ok = CheckVariableValue(type, value, scratch, normalized, message);
  return {ok, std::string(normalized), std::string(message)};
}

TEST(VariableValue, NumbersAndIntegers) {
  for (const char* ok : {"1", "-2.5", "+3.", ".5", "1e3", "2.5E-2"}) {
    EXPECT_TRUE(CheckValue(VariableType::kNumber, ok).ok) << ok;
  }
  for (const char* bad : {"abc", "1,5", "1e", "--1", ".", "1.2.3"}) {
    EXPECT_FALSE(CheckValue(VariableType::kNumber, bad).ok) << bad;
  }
  EXPECT_TRUE(CheckValue(VariableType::kInteger, "-42").ok);
  EXPECT_FALSE(CheckValue(VariableType::kInteger, "4.2").ok);
  EXPECT_EQ(CheckValue(VariableType::kInteger, "x").message, "not an integer");
}

TEST(VariableValue, BooleansAreNormalised) {
  EXPECT_EQ(CheckValue(VariableType::kBoolean, "TRUE").normalized, "true");
  EXPECT_EQ(CheckValue(VariableType::kBoolean, "yes").normalized, "true");
  EXPECT_EQ(CheckValue(VariableType::kBoolean, "0").normalized, "false");
  EXPECT_FALSE(CheckValue(VariableType::kBoolean, "maybe").ok);
}

TEST(VariableValue, DatesAreNormalisedToIsoDays) {
  EXPECT_EQ(CheckValue(VariableType::kDate, "2025-05-15").normalized, "2025-05-15");
  EXPECT_EQ(CheckValue(VariableType::kDate, "2025/05/15").normalized, "2025-05-15");
  EXPECT_EQ(CheckValue(VariableType::kDate, "2025-05-15T10:00:00Z").normalized, "2025-05-15");
  EXPECT_TRUE(CheckValue(VariableType::kDate, "2024-02-29").ok);
  for (const char* bad : {"2023-02-29", "2025-13-01", "15/05/2025", "2025-5-1", "soon"}) {
    EXPECT_FALSE(CheckValue(VariableType::kDate, bad).ok) << bad;
  }
}

TEST(VariableValue, Emails) {
  EXPECT_TRUE(CheckValue(VariableType::kEmail, "a@b.co").ok);
  EXPECT_FALSE(CheckValue(VariableType::kEmail, "a@b").ok);
  EXPECT_TRUE(CheckValue(VariableType::kString, "anything at all").ok);
}

TEST(VariableValue, ExcelScientificNotationIsRecognised) {
  EXPECT_TRUE(LooksLikeExcelScientific("1.21255E+10"));
  EXPECT_TRUE(LooksLikeExcelScientific("1.2125550123E10"));
  EXPECT_FALSE(LooksLikeExcelScientific("12125550123"));
  EXPECT_FALSE(LooksLikeExcelScientific("+1 212 555 0123"));
  EXPECT_FALSE(LooksLikeExcelScientific("E10"));
}

}  // namespace
}  // namespace nexus::domain

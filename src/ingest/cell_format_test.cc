#include "ingest/cell_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace nexus::ingest {
namespace {

std::string Number(double value) {
  std::string out = "<";  // appends, never replaces
  AppendNumberText(value, out);
  return out.substr(1);
}

std::string Date(double serial, bool date1904 = false) {
  std::string out;
  AppendExcelDateText(serial, date1904, out);
  return out;
}

TEST(AppendNumberText, IntegersArePlain) {
  EXPECT_EQ(Number(12125551234), "12125551234");
  EXPECT_EQ(Number(0), "0");
  EXPECT_EQ(Number(-0.0), "0");
  EXPECT_EQ(Number(7), "7");
  EXPECT_EQ(Number(-42), "-42");
  EXPECT_EQ(Number(999999999999999), "999999999999999");
  EXPECT_EQ(Number(1e15), "1000000000000000");
  EXPECT_EQ(Number(-1e15), "-1000000000000000");
}

TEST(AppendNumberText, LargeIntegersKeepFifteenSignificantDigits) {
  // Excel itself stores only 15 significant digits: the rest print as zeros.
  EXPECT_EQ(Number(123456789012345678.0), "123456789012346000");
  EXPECT_EQ(Number(1e20), "100000000000000000000");
  EXPECT_EQ(Number(9007199254740993.0), "9007199254740990");
}

TEST(AppendNumberText, FractionsWithoutExponentOrTrailingZeros) {
  EXPECT_EQ(Number(1.5), "1.5");
  EXPECT_EQ(Number(-3.25), "-3.25");
  EXPECT_EQ(Number(0.1 + 0.2), "0.3");
  EXPECT_EQ(Number(1234.5), "1234.5");
  EXPECT_EQ(Number(0.000123), "0.000123");
  EXPECT_EQ(Number(1.0 / 3), "0.333333333333333");
  EXPECT_EQ(Number(2.0 / 3), "0.666666666666667");
  EXPECT_EQ(Number(2.9999999999999996), "3");
  EXPECT_EQ(Number(999999999999999.9), "1000000000000000");
  EXPECT_EQ(Number(1e-5), "0.00001");
  EXPECT_EQ(Number(1.5e-300).size(), 303u);  // "0.000...00015": no exponent, ever
  EXPECT_EQ(Number(-std::numeric_limits<double>::max()).size(), 310u);
}

TEST(AppendNumberText, NonFiniteIsEmpty) {
  EXPECT_EQ(Number(std::numeric_limits<double>::infinity()), "");
  EXPECT_EQ(Number(-std::numeric_limits<double>::infinity()), "");
  EXPECT_EQ(Number(std::nan("")), "");
}

TEST(AppendNumberText, Appends) {
  std::string out = "x=";
  AppendNumberText(2.5, out);
  EXPECT_EQ(out, "x=2.5");
}

TEST(IsDateFormat, BuiltinIds) {
  for (const int id : {14, 15, 16, 17, 18, 19, 20, 21, 22, 27, 30, 36, 45, 46, 47, 50, 57, 58}) {
    EXPECT_TRUE(IsDateFormat(id, "")) << id;
  }
  for (const int id : {0, 1, 2, 9, 10, 11, 12, 13, 23, 26, 37, 44, 48, 49, 59, 164}) {
    EXPECT_FALSE(IsDateFormat(id, "")) << id;
  }
}

TEST(IsDateFormat, CustomCodes) {
  for (const char* code : {"yyyy-mm-dd", "d/m/yy", "mmm-yy", "mmmm", "dd", "YYYY", "m/d/yyyy h:mm",
                           "[$-409]mmmm d, yyyy;@", "[Red]yyyy-mm-dd", "yyyy\"年\"m\"月\"d\"日\"",
                           "dd/mm/yyyy\\ hh:mm"}) {
    EXPECT_TRUE(IsDateFormat(164, code)) << code;
  }
  for (const char* code :
       {"General", "0.00", "#,##0", "0.00E+00", "@", "h:mm", "hh:mm:ss", "mm:ss", "[h]:mm:ss",
        "[mm]:ss", "h:mm AM/PM", "h:mm A/P", "\"day\" 0", "\\d0", "0_m", "0*d",
        "[Blue]#,##0;[Red]-#,##0", "#,##0;\"yyyy\"", "[$-409]#,##0.00"}) {
    EXPECT_FALSE(IsDateFormat(164, code)) << code;
  }
}

TEST(AppendExcelDateText, Serial1900) {
  EXPECT_EQ(Date(45000), "2023-03-15");
  EXPECT_EQ(Date(45000.75), "2023-03-15");          // the time is dropped
  EXPECT_EQ(Date(45000.9999999999), "2023-03-16");  // rounded to the millisecond first
  EXPECT_EQ(Date(1), "1900-01-01");
  EXPECT_EQ(Date(59), "1900-02-28");
  EXPECT_EQ(Date(60), "1900-02-29");  // Excel's fictitious day
  EXPECT_EQ(Date(61), "1900-03-01");
  EXPECT_EQ(Date(25569), "1970-01-01");
  EXPECT_EQ(Date(36526), "2000-01-01");
  EXPECT_EQ(Date(2958465), "9999-12-31");
}

TEST(AppendExcelDateText, Serial1904) {
  EXPECT_EQ(Date(0, true), "1904-01-01");
  EXPECT_EQ(Date(45000 - 1462, true), "2023-03-15");
  EXPECT_EQ(Date(60, true), "1904-03-01");
}

TEST(AppendExcelDateText, OutOfRangeFallsBackToNumber) {
  EXPECT_EQ(Date(0), "0");
  EXPECT_EQ(Date(0.5), "0.5");
  EXPECT_EQ(Date(-1), "-1");
  EXPECT_EQ(Date(-1, true), "-1");
  EXPECT_EQ(Date(2958466), "2958466");
  EXPECT_EQ(Date(1e300), Number(1e300));
  EXPECT_EQ(Date(std::nan("")), "");
}

}  // namespace
}  // namespace nexus::ingest

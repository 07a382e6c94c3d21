#include "ingest/cell_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

namespace nexus::ingest {
namespace {

constexpr int kSignificantDigits = 15;  // what Excel keeps of a number
constexpr double kIntegerLimit = 1e15;  // |v| below this and integral: printed as an integer

// Appends the significant `digits` (no leading or trailing zeros) with the decimal point placed
// `point` digits from their start, in plain notation: ("15", 1) → "1.5", ("3", 0) → "0.3",
// ("123", -2) → "0.00123", ("1", 16) → "10000000000000000".
void AppendPlainDecimal(std::string_view digits, int point, std::string& out) {
  if (point <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-point), '0');
    out += digits;
    return;
  }
  const auto p = static_cast<size_t>(point);
  if (p >= digits.size()) {
    out += digits;
    out.append(p - digits.size(), '0');
    return;
  }
  out += digits.substr(0, p);
  out += '.';
  out += digits.substr(p);
}

bool InBuiltinDateRange(int id) {
  return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47) ||
         (id >= 50 && id <= 58);
}

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Days since 1970-01-01 → proleptic Gregorian civil date (H. Hinnant's algorithm).
void CivilFromDays(int64_t z, int64_t& year, unsigned& month, unsigned& day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
}

void AppendDate(int64_t year, unsigned month, unsigned day, std::string& out) {
  char buf[16];
  char* p = buf;
  const auto y = static_cast<unsigned>(year);  // 1900..9999, checked by the caller
  *p++ = static_cast<char>('0' + y / 1000);
  *p++ = static_cast<char>('0' + y / 100 % 10);
  *p++ = static_cast<char>('0' + y / 10 % 10);
  *p++ = static_cast<char>('0' + y % 10);
  *p++ = '-';
  *p++ = static_cast<char>('0' + month / 10);
  *p++ = static_cast<char>('0' + month % 10);
  *p++ = '-';
  *p++ = static_cast<char>('0' + day / 10);
  *p++ = static_cast<char>('0' + day % 10);
  out.append(buf, static_cast<size_t>(p - buf));
}

}  // namespace

void AppendNumberText(double value, std::string& out) {
  if (!std::isfinite(value)) return;
  if (value == 0) {  // also -0.0
    out += '0';
    return;
  }
  char buf[64];
  if (std::fabs(value) < kIntegerLimit && value == std::trunc(value)) {
    const auto result = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(value));
    out.append(buf, static_cast<size_t>(result.ptr - buf));
    return;
  }
  // Round to 15 significant digits, as %.15g would: d.dddddddddddddde±XX.
  const auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific,
                                    kSignificantDigits - 1);
  std::string_view text(buf, static_cast<size_t>(result.ptr - buf));
  if (text.front() == '-') {
    out += '-';
    text.remove_prefix(1);
  }
  const size_t e = text.find('e');
  std::string_view exponent_text = text.substr(e + 1);  // "+17" or "-05"
  const bool negative = exponent_text.front() == '-';
  exponent_text.remove_prefix(1);
  int exponent = 0;
  std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);
  if (negative) exponent = -exponent;
  char digits[kSignificantDigits + 1];
  size_t n = 0;
  for (const char c : text.substr(0, e)) {
    if (c != '.') digits[n++] = c;
  }
  while (n > 1 && digits[n - 1] == '0') --n;  // trailing zeros of the fraction
  AppendPlainDecimal(std::string_view(digits, n), exponent + 1, out);
}

bool IsDateFormat(int builtin_id, std::string_view format_code) {
  if (InBuiltinDateRange(builtin_id)) return true;
  if (format_code.empty()) return false;
  bool date = false;   // y, d, or an m that is a month
  bool month = false;  // an m
  bool time = false;   // h or s (then a lone m means minutes)
  for (size_t i = 0; i < format_code.size(); ++i) {
    const char c = format_code[i];
    switch (c) {
      case ';':  // only the first section (positive numbers, where dates live) matters
        i = format_code.size();
        break;
      case '"': {  // literal text
        const size_t close = format_code.find('"', i + 1);
        i = close == std::string_view::npos ? format_code.size() : close;
        break;
      }
      case '\\':  // escaped character
      case '_':   // space as wide as the next character
      case '*':   // fill with the next character
        ++i;
        break;
      case '[': {  // color, condition, locale, or elapsed time [h] [mm] [ss]
        const size_t close = format_code.find(']', i + 1);
        const std::string_view inside =
            format_code.substr(i + 1, close == std::string_view::npos ? 0 : close - i - 1);
        if (!inside.empty() && inside.find_first_not_of("hHmMsS") == std::string_view::npos) {
          time = true;  // elapsed time: a duration, not a date
        }
        i = close == std::string_view::npos ? format_code.size() : close;
        break;
      }
      default: {
        const char l = Lower(c);
        if (l == 'a') {  // AM/PM or A/P: their M and P are not date parts
          const std::string_view rest = format_code.substr(i);
          if (rest.size() >= 5 && Lower(rest[1]) == 'm' && rest[2] == '/' &&
              Lower(rest[3]) == 'p' && Lower(rest[4]) == 'm') {
            time = true;
            i += 4;
          } else if (rest.size() >= 3 && rest[1] == '/' && Lower(rest[2]) == 'p') {
            time = true;
            i += 2;
          }
        } else if (l == 'y' || l == 'd') {
          date = true;
        } else if (l == 'm') {
          month = true;
        } else if (l == 'h' || l == 's') {
          time = true;
        }
        break;
      }
    }
  }
  return date || (month && !time);
}

void AppendExcelDateText(double serial, bool date1904, std::string& out) {
  // 3e6 is past 9999-12-31 in both systems; checked first so the casts below cannot overflow.
  if (!std::isfinite(serial) || serial < (date1904 ? 0.0 : 1.0) || serial > 3e6) {
    AppendNumberText(serial, out);
    return;
  }
  // Excel rounds to the millisecond before it formats: 45000.9999999999 is the next day.
  const double millis = std::round(serial * 86'400'000.0);
  const auto days = static_cast<int64_t>(std::floor(millis / 86'400'000.0));
  int64_t since_1970;
  if (date1904) {
    since_1970 = days - 24107;  // serial 0 = 1904-01-01
  } else if (days == 60) {      // Lotus 1-2-3's leap-year bug, kept by Excel
    out += "1900-02-29";
    return;
  } else {
    // Serial 1 = 1900-01-01, so serial 0 would be 1899-12-31; past the fictitious 29 Feb every
    // serial is one too high, so count from 1899-12-30 instead.
    since_1970 = days + (days < 60 ? -25568 : -25569);
  }
  int64_t year;
  unsigned month;
  unsigned day;
  CivilFromDays(since_1970, year, month, day);
  if (year < 1900 || year > 9999) {
    AppendNumberText(serial, out);
    return;
  }
  AppendDate(year, month, day, out);
}

}  // namespace nexus::ingest

#include "domain/variable_value.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace nexus::domain {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// [+-]? digits [. digits] | [+-]? . digits, with an optional exponent.
bool IsDecimal(std::string_view text) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t digits = 0;
  while (i < text.size() && IsDigit(text[i])) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && IsDigit(text[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    size_t exponent_digits = 0;
    while (i < text.size() && IsDigit(text[i])) ++i, ++exponent_digits;
    if (exponent_digits == 0) return false;
  }
  return i == text.size();
}

bool IsInteger(std::string_view text) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  if (i == text.size()) return false;
  for (; i < text.size(); ++i) {
    if (!IsDigit(text[i])) return false;
  }
  return true;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// YYYY-MM-DD or YYYY/MM/DD, optionally followed by a time ("T..." or " ..."), which is dropped.
bool NormalizeDate(std::string_view text, std::string& scratch) {
  if (text.size() < 10) return false;
  const char sep = text[4];
  if ((sep != '-' && sep != '/') || text[7] != sep) return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!IsDigit(text[i])) return false;
  }
  if (text.size() > 10 && text[10] != 'T' && text[10] != ' ') return false;
  const int year =
      (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
  const int month = (text[5] - '0') * 10 + (text[6] - '0');
  const int day = (text[8] - '0') * 10 + (text[9] - '0');
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) {
    return false;
  }
  scratch.assign(text.substr(0, 10));
  scratch[4] = '-';
  scratch[7] = '-';
  return true;
}

bool IsEmailShape(std::string_view text) {
  const size_t at = text.find('@');
  if (at == std::string_view::npos || at == 0 || text.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = text.substr(at + 1);
  const size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= domain.size()) return false;
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ') return false;
  }
  return text.size() <= 254;
}

}  // namespace

bool CheckVariableValue(VariableType type, std::string_view value, std::string& scratch,
                        std::string_view& normalized, std::string_view& message) {
  normalized = value;
  switch (type) {
    case VariableType::kString:
      return true;
    case VariableType::kNumber:
      if (IsDecimal(value)) return true;
      message = "not a number";
      return false;
    case VariableType::kInteger:
      if (IsInteger(value)) return true;
      message = "not an integer";
      return false;
    case VariableType::kBoolean: {
      const absl::string_view v(value.data(), value.size());
      if (absl::EqualsIgnoreCase(v, "true") || absl::EqualsIgnoreCase(v, "yes") || v == "1") {
        normalized = "true";
        return true;
      }
      if (absl::EqualsIgnoreCase(v, "false") || absl::EqualsIgnoreCase(v, "no") || v == "0") {
        normalized = "false";
        return true;
      }
      message = "not a boolean (use true or false)";
      return false;
    }
    case VariableType::kDate:
      if (NormalizeDate(value, scratch)) {
        normalized = scratch;
        return true;
      }
      message = "not a date (use YYYY-MM-DD)";
      return false;
    case VariableType::kEmail:
      if (IsEmailShape(value)) return true;
      message = "not an e-mail address";
      return false;
  }
  return true;
}

bool LooksLikeExcelScientific(std::string_view text) {
  const size_t e = text.find_first_of("eE");
  if (e == std::string_view::npos || e == 0) return false;
  const std::string_view mantissa = text.substr(0, e);
  std::string_view exponent = text.substr(e + 1);
  if (!exponent.empty() && (exponent.front() == '+' || exponent.front() == '-')) {
    exponent.remove_prefix(1);
  }
  if (exponent.empty() || !IsInteger(exponent)) return false;
  return IsDecimal(mantissa);
}

}  // namespace nexus::domain

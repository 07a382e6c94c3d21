#include "domain/phone.h"

#include <fmt/format.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <set>

namespace nexus::domain {
namespace {

using i18n::phonenumbers::PhoneNumberUtil;

const std::set<std::string>& SupportedRegions() {
  static const std::set<std::string>* regions = [] {
    auto* set = new std::set<std::string>();
    PhoneNumberUtil::GetInstance()->GetSupportedRegions(set);
    return set;
  }();
  return *regions;
}

}  // namespace

bool IsSupportedRegion(std::string_view region) {
  return region.size() == 2 && SupportedRegions().count(std::string(region)) > 0;
}

absl::StatusOr<std::string> NormalizePhoneNumber(std::string_view text, std::string_view region) {
  // libphonenumber refuses inputs over 250 characters itself; say so plainly instead.
  if (text.size() > 250) return absl::InvalidArgumentError("phone number is too long");
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  i18n::phonenumbers::PhoneNumber number;
  const auto error = util.Parse(std::string(text), std::string(region), &number);
  if (error != PhoneNumberUtil::NO_PARSING_ERROR || !util.IsValidNumber(number)) {
    return absl::InvalidArgumentError(
        fmt::format("not a valid phone number for region {}", region));
  }
  std::string e164;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  return e164;
}

}  // namespace nexus::domain

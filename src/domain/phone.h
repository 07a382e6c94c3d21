// File: domain/phone.h
//
// Phone-number normalisation with libphonenumber as the authority: text as people write it, plus
// a default ISO 3166 region for numbers without a country code, becomes E.164 ("+12125551234")
// when libphonenumber parses it and says it is a valid number. Thread-safe (libphonenumber's
// PhoneNumberUtil is an immutable singleton).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace nexus::domain {

// E.164 form of `text`, or InvalidArgument whose message says why, e.g.
// "not a valid phone number for region US".
absl::StatusOr<std::string> NormalizePhoneNumber(std::string_view text, std::string_view region);

// True when `region` is an ISO 3166 alpha-2 code that libphonenumber has metadata for
// (uppercase, e.g. "US", "GB").
bool IsSupportedRegion(std::string_view region);

}  // namespace nexus::domain

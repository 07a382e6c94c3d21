#include "domain/phone_normalizer.h"

#include <gtest/gtest.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/splitmix64.h"
#include "domain/phone.h"
#include "fmt/format.h"

namespace nexus::domain {
namespace {

using Rng = core::SplitMix64;

constexpr std::array<std::string_view, 6> kRegions = {"US", "GB", "DE", "IN", "AU", "CA"};

// Area codes in service plus a few that are not; random ones are added on top.
constexpr std::array<std::string_view, 24> kAreaCodes = {
    "212", "415", "646", "312", "617", "202", "305", "713", "206", "503", "505", "684",
    "268", "416", "604", "800", "888", "900", "555", "211", "911", "123", "011", "999"};

// Country codes with the shapes of their national significant numbers (N = any digit).
struct Country {
  std::string_view cc;
  std::string_view national_prefix;  // "" when the country has none
  std::array<std::string_view, 4> shapes;
};
constexpr std::array<Country, 16> kCountries = {{
    {"44", "0", {"20NNNNNNNN", "7NNNNNNNNN", "1NNNNNNNNN", "8NNNNNNNN"}},
    {"49", "0", {"30NNNNNNNN", "15NNNNNNNNN", "89NNNNNNN", "NNNNNNNNNNN"}},
    {"33", "0", {"1NNNNNNNN", "6NNNNNNNN", "7NNNNNNNN", "9NNNNNNNN"}},
    {"91", "0", {"9NNNNNNNNN", "7NNNNNNNNN", "11NNNNNNNN", "NNNNNNNNNN"}},
    {"61", "0", {"2NNNNNNNN", "4NNNNNNNN", "3NNNNNNNN", "1800NNNNNN"}},
    {"55", "0", {"119NNNNNNNN", "11NNNNNNNN", "219NNNNNNNN", "NNNNNNNNNN"}},
    {"52", "01", {"55NNNNNNNN", "155NNNNNNNN", "33NNNNNNNN", "NNNNNNNNNN"}},
    {"39", "", {"06NNNNNNNN", "3NNNNNNNNN", "02NNNNNNN", "NNNNNNNNN"}},
    {"7", "8", {"9NNNNNNNNN", "495NNNNNNN", "7NNNNNNNNN", "NNNNNNNNNN"}},
    {"86", "0", {"1NNNNNNNNNN", "10NNNNNNNN", "21NNNNNNNN", "NNNNNNNNNN"}},
    {"81", "0", {"90NNNNNNNN", "3NNNNNNNN", "NNNNNNNNN", "NNNNNNNNNN"}},
    {"1", "1", {"NNNNNNNNNN", "212NNNNNNN", "416NNNNNNN", "684NNNNNNN"}},
    {"353", "0", {"8NNNNNNNN", "1NNNNNNN", "NNNNNNNNN", "NNNNNNN"}},
    {"800", "", {"NNNNNNNN", "NNNNNNN", "NNNNNNNNN", "NNNNNN"}},
    {"880", "0", {"1NNNNNNNNN", "2NNNNNNNN", "NNNNNNNNNN", "NNNNNNNN"}},
    {"64", "0", {"21NNNNNNN", "9NNNNNNN", "NNNNNNNNN", "NNNNNNNN"}},
}};

// Fixed inputs that exercise the fallbacks: letters, extensions, RFC 3966, Unicode digits and
// punctuation, Excel damage, IDDs, odd pluses, lengths at the edges.
constexpr std::array<std::string_view, 60> kOddities = {
    "",
    " ",
    "   \t ",
    "+",
    "++12125550123",
    "+ 1 212 555 0123",
    "(+1) 212 555 0123",
    "1+2125550123",
    "n/a",
    "555-CALL",
    "1-800-FLOWERS",
    "1-800-FLOWERS-NOW",
    "tel:+1-212-555-0123",
    "tel:212-555-0123;phone-context=+1",
    "212-555-0123 x123",
    "212-555-0123 ext. 45",
    "212-555-0123#",
    "212 555 0123 - 503#",
    "212-555-0123,,12",
    "212-555-0123;45",
    "\xEF\xBC\x92\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x95\xEF\xBC\x95\xEF\xBC\x95\xEF\xBC\x90\xEF\xBC"
    "\x91\xEF\xBC\x92\xEF\xBC\x93",
    "\xD9\xA2\xD9\xA1\xD9\xA2\xD9\xA5\xD9\xA5\xD9\xA5\xD9\xA0\xD9\xA1\xD9\xA2\xD9\xA3",
    "212\xC2\xA0"
    "555\xC2\xA0"
    "0123",
    "212\xE2\x80\x93"
    "555\xE2\x80\x93"
    "0123",
    "\xEF\xBC\x8B"
    "1 212 555 0123",
    "212/555-0123",
    "212_555_0123",
    "[212] 555-0123",
    "1.21255E+10",
    "2.12555E+09",
    "1.2125550123E10",
    "12125550123.0",
    "2125550123.0",
    "011 44 20 7946 0018",
    "011 1 212 555 0123",
    "00 44 20 7946 0018",
    "0044 20 7946 0018",
    "0011 61 2 9876 5432",
    "0061 2 9876 5432",
    "+44 (0) 20 7946 0018",
    "+49 (0)30 12345678",
    "+39 06 1234 5678",
    "+39 333 123 4567",
    "+0 212 555 0123",
    "+999 1234 5678",
    "+1 212 555",
    "12",
    "123",
    "1-2",
    "0000000000",
    "00000000000000000000000",
    "1234567890123456789012345",
    "\xFF\xFE"
    "212",
    "212-555-0123 / 212-555-0124",
    "Call 212-555-0123 now",
    "(212) 555-0123 (home)",
    "1 (800) 555-0199",
    "+1 (268) 464-1234",
};

std::string FillShape(Rng& rng, std::string_view shape) {
  std::string out;
  for (const char c : shape) out += c == 'N' ? static_cast<char>('0' + rng.Below(10)) : c;
  return out;
}

// Inserts separators between the digits the way people and spreadsheets do.
std::string Spell(Rng& rng, std::string_view digits) {
  switch (rng.Below(6)) {
    case 0:
      return std::string(digits);
    case 1: {  // groups of 2-4 with one separator kind
      constexpr std::array<std::string_view, 4> kSeparators = {" ", "-", ".", " - "};
      const std::string_view sep = rng.Pick(kSeparators);
      std::string out;
      size_t i = 0;
      while (i < digits.size()) {
        const size_t group = 2 + rng.Below(3);
        if (!out.empty()) out += sep;
        out += digits.substr(i, group);
        i += group;
      }
      return out;
    }
    case 2: {  // area code in parentheses
      const size_t area = std::min<size_t>(digits.size(), 2 + rng.Below(3));
      return fmt::format("({}) {}", digits.substr(0, area), digits.substr(area));
    }
    default: {  // random punctuation anywhere
      constexpr std::array<char, 6> kPunctuation = {' ', '-', '.', '(', ')', ' '};
      std::string out;
      for (const char c : digits) {
        if (rng.Percent(30)) out += rng.Pick(kPunctuation);
        out += c;
      }
      if (rng.Percent(10)) out += rng.Pick(kPunctuation);
      return out;
    }
  }
}

std::string UsNumber(Rng& rng) {
  const std::string area =
      rng.Percent(60) ? std::string(rng.Pick(kAreaCodes)) : fmt::format("{:03}", rng.Below(1000));
  std::string exchange = fmt::format("{:03}", rng.Below(1000));
  if (rng.Percent(10)) exchange = "555";
  if (rng.Percent(5)) exchange = fmt::format("{}11", rng.Below(10));
  const std::string line = fmt::format("{:04}", rng.Below(10000));
  switch (rng.Below(12)) {
    case 0:
      return fmt::format("({}) {}-{}", area, exchange, line);
    case 1:
      return fmt::format("+1 {}-{}-{}", area, exchange, line);
    case 2:
      return fmt::format("{}{}{}", area, exchange, line);
    case 3:
      return fmt::format("1{}{}{}", area, exchange, line);
    case 4:
      return fmt::format("1-{}-{}-{}", area, exchange, line);
    case 5:
      return fmt::format("{}.{}.{}", area, exchange, line);
    case 6:
      return fmt::format("+1{}{}{}", area, exchange, line);
    case 7:
      return fmt::format("1 ({}) {}-{}", area, exchange, line);
    case 8:
      return fmt::format("{}{}{}.0", area, exchange, line);
    case 9:
      return fmt::format("{}-{}", exchange, line);  // 7 digits: local only
    case 10:
      return fmt::format("+{}{}{}", area, exchange, line);  // '+' without the 1
    default:
      return Spell(rng, area + exchange + line);
  }
}

std::string ForeignNumber(Rng& rng) {
  const Country& country = rng.Pick(kCountries);
  std::string nsn = FillShape(rng, country.shapes[rng.Below(country.shapes.size())]);
  if (rng.Percent(15)) nsn.pop_back();
  if (rng.Percent(15)) nsn += static_cast<char>('0' + rng.Below(10));
  switch (rng.Below(8)) {
    case 0:
    case 1:
      return "+" + std::string(country.cc) + " " + Spell(rng, nsn);
    case 2:
      return "+" + std::string(country.cc) + Spell(rng, nsn);
    case 3:  // national format
      return Spell(rng, std::string(country.national_prefix) + nsn);
    case 4:  // bare NSN
      return Spell(rng, nsn);
    case 5:  // country code without '+'
      return Spell(rng, std::string(country.cc) + nsn);
    case 6:  // '+', country code and a national prefix
      return "+" + std::string(country.cc) + " (" + std::string(country.national_prefix) + ") " +
             Spell(rng, nsn);
    default: {  // an IDD
      constexpr std::array<std::string_view, 4> kIdds = {"00", "011", "0011", "001"};
      return std::string(rng.Pick(kIdds)) + " " + std::string(country.cc) + " " + Spell(rng, nsn);
    }
  }
}

// libphonenumber's example numbers of every type for every region and non-geographic code, as
// (country code, NSN): numbers near every region's patterns, including the rare ones (ambiguous
// national prefixes, transform rules, leading digits, Italian leading zeros).
const std::vector<std::pair<std::string, std::string>>& Examples() {
  static const auto* examples = [] {
    using i18n::phonenumbers::PhoneNumberUtil;
    const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
    auto* out = new std::vector<std::pair<std::string, std::string>>();
    auto add = [&](const i18n::phonenumbers::PhoneNumber& number) {
      std::string nsn;
      util.GetNationalSignificantNumber(number, &nsn);
      out->emplace_back(std::to_string(number.country_code()), nsn);
    };
    std::set<std::string> regions;
    util.GetSupportedRegions(&regions);
    for (const std::string& region : regions) {
      for (int type = 0; type <= PhoneNumberUtil::kMaxNumberType; ++type) {
        i18n::phonenumbers::PhoneNumber number;
        if (util.GetExampleNumberForType(
                region, static_cast<PhoneNumberUtil::PhoneNumberType>(type), &number)) {
          add(number);
        }
      }
    }
    std::set<int> codes;
    util.GetSupportedGlobalNetworkCallingCodes(&codes);
    for (const int code : codes) {
      i18n::phonenumbers::PhoneNumber number;
      if (util.GetExampleNumberForNonGeoEntity(code, &number)) add(number);
    }
    return out;
  }();
  return *examples;
}

// An example number with some digits changed, in international or national spelling.
std::string ExampleNumber(Rng& rng) {
  const auto& [cc, example] = Examples()[rng.Below(Examples().size())];
  std::string nsn = example;
  const size_t changes = rng.Below(4);
  for (size_t i = 0; i < changes && !nsn.empty(); ++i) {
    // Mostly the tail, sometimes anywhere (new prefixes).
    const size_t at = rng.Percent(70) ? nsn.size() - 1 - rng.Below(std::min<size_t>(4, nsn.size()))
                                      : rng.Below(nsn.size());
    nsn[at] = static_cast<char>('0' + rng.Below(10));
  }
  if (rng.Percent(5)) nsn.pop_back();
  if (rng.Percent(5)) nsn += static_cast<char>('0' + rng.Below(10));
  // Digits people put between the country code and the NSN: national prefixes and carrier codes.
  constexpr std::array<std::string_view, 12> kPrefixes = {"",  "",   "",   "0",   "8",    "80",
                                                          "1", "01", "06", "044", "0 15", "1832"};
  const std::string_view prefix = rng.Percent(40) ? rng.Pick(kPrefixes) : "";
  switch (rng.Below(4)) {
    case 0:
    case 1:
      return "+" + cc + " " + std::string(prefix) + Spell(rng, nsn);
    case 2:
      return Spell(rng, std::string(prefix) + nsn);
    default:
      return Spell(rng, cc + std::string(prefix) + nsn);
  }
}

std::string RandomDigits(Rng& rng) {
  const size_t length = 1 + rng.Below(20);
  std::string digits;
  for (size_t i = 0; i < length; ++i) digits += static_cast<char>('0' + rng.Below(10));
  if (rng.Percent(30)) return "+" + Spell(rng, digits);
  return Spell(rng, digits);
}

struct Input {
  std::string text;
  std::string_view region;
};

std::vector<Input> Corpus(size_t size, uint64_t seed) {
  Rng rng(seed);
  std::vector<Input> corpus;
  corpus.reserve(size + kOddities.size() * kRegions.size());
  for (const std::string_view odd : kOddities) {
    for (const std::string_view region : kRegions) corpus.push_back({std::string(odd), region});
  }
  while (corpus.size() < size) {
    std::string text;
    const uint64_t kind = rng.Below(100);
    if (kind < 35) {
      text = UsNumber(rng);
    } else if (kind < 55) {
      text = ForeignNumber(rng);
    } else if (kind < 83) {
      text = ExampleNumber(rng);
    } else if (kind < 95) {
      text = RandomDigits(rng);
    } else {
      text = std::string(rng.Pick(kOddities));
      if (rng.Percent(50)) text += static_cast<char>('0' + rng.Below(10));
    }
    if (rng.Percent(3)) text = " " + text + " ";
    if (rng.Percent(1)) text += "\t";
    corpus.push_back({std::move(text), rng.Pick(kRegions)});
  }
  return corpus;
}

const PhoneNormalizer& Normalizer() {
  static const PhoneNormalizer* normalizer = new PhoneNormalizer();
  return *normalizer;
}

// Equality of two results, with a message naming the input.
::testing::AssertionResult SameOutcome(const absl::StatusOr<std::string>& expected,
                                       const absl::StatusOr<std::string>& actual,
                                       const Input& input) {
  if (expected.ok() == actual.ok() &&
      (expected.ok() ? *expected == *actual : expected.status() == actual.status())) {
    return ::testing::AssertionSuccess();
  }
  auto show = [](const absl::StatusOr<std::string>& r) {
    return r.ok() ? *r : r.status().ToString();
  };
  return ::testing::AssertionFailure()
         << "input \"" << input.text << "\" region " << input.region << ": libphonenumber says "
         << show(expected) << ", the normalizer says " << show(actual);
}

absl::StatusOr<std::string> FromResult(const PhoneResult& result, std::string_view region) {
  if (!result.ok()) return PhoneNormalizer::ErrorStatus(result, region);
  return std::string(result.E164());
}

TEST(PhoneNormalizer, MetadataMatchesTheLibrary) { EXPECT_TRUE(Normalizer().fast_path_enabled()); }

TEST(PhoneNormalizer, CommonSpellingsTakeTheFastPath) {
  for (const char* text : {"(212) 555-0123", "+1 212-555-0123", "2125550123", "12125550123",
                           "1-212-555-0123", "212.555.0123", "+12125550123"}) {
    const PhoneResult result = Normalizer().NormalizeToResult(text, "US");
    EXPECT_TRUE(result.fast) << text;
    ASSERT_TRUE(result.ok()) << text;
    EXPECT_EQ(result.E164(), "+12125550123") << text;
  }
  const PhoneResult gb = Normalizer().NormalizeToResult("020 7946 0018", "GB");
  EXPECT_TRUE(gb.fast);
  EXPECT_EQ(gb.E164(), "+442079460018");
  // In libphonenumber's US metadata 505-644 is valid but 505-643 is not (505-6[0-35-9]x and
  // 505-644 are): the memo must look at the seventh digit there.
  for (const char* text : {"505-643-1234", "505-644-1234", "505-640-1234", "505-651-1234"}) {
    const PhoneResult result = Normalizer().NormalizeToResult(text, "US");
    EXPECT_TRUE(result.fast) << text;
    EXPECT_EQ(result.ok(), NormalizePhoneNumber(text, "US").ok()) << text;
  }
  EXPECT_FALSE(Normalizer().NormalizeToResult("505-643-1234", "US").ok());
  EXPECT_TRUE(Normalizer().NormalizeToResult("505-644-1234", "US").ok());
}

TEST(PhoneNormalizer, UnusualInputsFallBackToLibphonenumber) {
  for (const char* text : {"555-CALL", "212-555-0123 x123", "tel:+1-212-555-0123", "1.21255E+10",
                           "+39 06 1234 5678", "011 44 20 7946 0018", "+999 1234 5678", "12", ""}) {
    EXPECT_FALSE(Normalizer().NormalizeToResult(text, "US").fast) << text;
  }
  EXPECT_EQ(Normalizer().Normalize(std::string(300, '1'), "US").status(),
            NormalizePhoneNumber(std::string(300, '1'), "US").status());
  EXPECT_EQ(Normalizer().Normalize("2125550123", "us").status(),
            NormalizePhoneNumber("2125550123", "us").status());
}

// The proof: on a large generated corpus (every spelling, several countries, invalid shapes,
// six default regions) the verdict and the E.164 equal NormalizePhoneNumber's on every input,
// one at a time and in batches on two threads.
//
// 200,000 inputs by default (≈ 60 s under ASan, where libphonenumber's own calls dominate);
// NEXUS_PHONE_CORPUS=N and NEXUS_PHONE_SEED=S run a bigger or different corpus.
TEST(PhoneNormalizer, EqualsLibphonenumberOnGeneratedCorpus) {
  const char* size_env = std::getenv("NEXUS_PHONE_CORPUS");
  const char* seed_env = std::getenv("NEXUS_PHONE_SEED");
  const size_t size = size_env != nullptr ? std::strtoull(size_env, nullptr, 10) : 200000;
  const uint64_t seed = seed_env != nullptr ? std::strtoull(seed_env, nullptr, 10) : 20240601;
  const std::vector<Input> corpus = Corpus(size, seed);
  const PhoneNormalizer& normalizer = Normalizer();
  const PhoneNormalizer::Stats before = normalizer.stats();

  std::vector<absl::StatusOr<std::string>> expected;
  expected.reserve(corpus.size());
  size_t mismatches = 0;
  size_t fast = 0;
  size_t valid = 0;
  for (const Input& input : corpus) {
    expected.push_back(NormalizePhoneNumber(input.text, input.region));
    const PhoneResult result = normalizer.NormalizeToResult(input.text, input.region);
    fast += result.fast;
    valid += expected.back().ok();
    const auto check = SameOutcome(expected.back(), FromResult(result, input.region), input);
    if (!check && ++mismatches <= 20) ADD_FAILURE() << check.message();
    const auto check_status_or =
        SameOutcome(expected.back(), normalizer.Normalize(input.text, input.region), input);
    if (!check_status_or && ++mismatches <= 20) ADD_FAILURE() << check_status_or.message();
  }
  EXPECT_EQ(mismatches, 0u);

  // Batch, per region, on two threads: equal to the single-number answers.
  for (const std::string_view region : kRegions) {
    std::vector<std::string_view> texts;
    std::vector<size_t> index;
    for (size_t i = 0; i < corpus.size(); ++i) {
      if (corpus[i].region == region) {
        texts.push_back(corpus[i].text);
        index.push_back(i);
      }
    }
    std::vector<PhoneResult> out(texts.size());
    normalizer.NormalizeBatch(texts, region, out, 2);
    size_t batch_mismatches = 0;
    for (size_t k = 0; k < texts.size(); ++k) {
      const auto check =
          SameOutcome(expected[index[k]], FromResult(out[k], region), corpus[index[k]]);
      if (!check && ++batch_mismatches <= 10) ADD_FAILURE() << "batch: " << check.message();
    }
    EXPECT_EQ(batch_mismatches, 0u) << region;
  }

  const PhoneNormalizer::Stats after = normalizer.stats();
  // The corpus must exercise both paths and the memo, or the proof would be vacuous.
  EXPECT_GT(fast, corpus.size() / 2);
  EXPECT_GT(corpus.size() - fast, corpus.size() / 20);
  EXPECT_GT(valid, corpus.size() / 5);
  EXPECT_GT(corpus.size() - valid, corpus.size() / 5);
  EXPECT_GT(after.memo_fills, before.memo_fills);
  std::printf(
      "corpus %zu (seed %llu): %zu valid, %zu fast path; memo fills %llu, direct "
      "IsValidNumber %llu, DAGs %llu\n",
      corpus.size(), static_cast<unsigned long long>(seed), valid, fast,
      static_cast<unsigned long long>(after.memo_fills - before.memo_fills),
      static_cast<unsigned long long>(after.direct_validity - before.direct_validity),
      static_cast<unsigned long long>(after.dags_built - before.dags_built));
}

// Every exchange of a set of NANP area codes (validity there depends on the first 6-7 digits).
TEST(PhoneNormalizer, EqualsLibphonenumberOnEveryExchange) {
  Rng rng(42);
  size_t mismatches = 0;
  for (const std::string_view area : kAreaCodes) {
    for (int exchange = 0; exchange < 1000; ++exchange) {
      const Input input{fmt::format("{}-{:03}-{:04}", area, exchange, rng.Below(10000)), "US"};
      const auto check = SameOutcome(NormalizePhoneNumber(input.text, input.region),
                                     Normalizer().Normalize(input.text, input.region), input);
      if (!check && ++mismatches <= 20) ADD_FAILURE() << check.message();
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

// Concurrent single-number calls share the lazily built DAGs and memo slots.
TEST(PhoneNormalizer, ConcurrentCallsAgree) {
  const std::vector<Input> corpus = Corpus(10000, 7);
  std::vector<PhoneResult> a(corpus.size());
  std::vector<PhoneResult> b(corpus.size());
  const PhoneNormalizer normalizer;  // fresh: nothing built yet
  {
    std::jthread first([&] {
      for (size_t i = 0; i < corpus.size(); ++i) {
        a[i] = normalizer.NormalizeToResult(corpus[i].text, corpus[i].region);
      }
    });
    for (size_t i = corpus.size(); i-- > 0;) {
      b[i] = normalizer.NormalizeToResult(corpus[i].text, corpus[i].region);
    }
  }
  for (size_t i = 0; i < corpus.size(); ++i) {
    ASSERT_EQ(a[i].code, b[i].code) << corpus[i].text;
    ASSERT_EQ(a[i].E164(), b[i].E164()) << corpus[i].text;
    ASSERT_TRUE(SameOutcome(NormalizePhoneNumber(corpus[i].text, corpus[i].region),
                            FromResult(a[i], corpus[i].region), corpus[i]));
  }
}

}  // namespace
}  // namespace nexus::domain

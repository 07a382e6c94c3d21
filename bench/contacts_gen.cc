#include "bench/contacts_gen.h"

#include <array>
#include <cstdio>
#include <string_view>
#include <vector>

#include "core/splitmix64.h"
#include "fmt/format.h"

namespace nexus::bench {
namespace {

using Rng = core::SplitMix64;

constexpr std::array<std::string_view, 16> kFirst = {
    "James", "Mary",  "José",   "Zoë",    "Li",    "Fatima", "Noah",  "Søren",
    "Ana",   "Chloé", "Robert", "Olivia", "Mateo", "Ingrid", "Kenji", "Aaliyah"};
constexpr std::array<std::string_view, 16> kLast = {
    "Smith",  "Müller", "García", "O'Brien", "Nguyen",    "Ñúñez", "Johnson", "Kowalski",
    "Dubois", "Rossi",  "Chen",   "Brown",   "Fernández", "Novák", "Haddad",  "Williams"};
constexpr std::array<std::string_view, 6> kNicknames = {"Bob", "Liz", "Pepe", "Zizi", "Ché", "Kat"};
constexpr std::array<std::string_view, 10> kAreaCodes = {"212", "415", "646", "312", "617",
                                                         "202", "305", "713", "206", "503"};
constexpr std::array<std::string_view, 6> kInvalid = {
    "12345", "555-CALL", "+1 212 555", "0000000000", "n/a", "1-800-FLOWERS-NOW"};
constexpr std::array<std::string_view, 8> kNotes = {"",
                                                    "",
                                                    "",
                                                    "",
                                                    "call after 5pm",
                                                    "prefers Spanish, speaks English too",
                                                    "VIP customer since 2019",
                                                    "asked about \"premium\" plan"};

struct Phone {
  uint32_t area;
  uint32_t exchange;
  uint32_t line;
};

std::string Spell(const Phone& p, uint64_t style) {
  const std::string_view area = kAreaCodes[p.area];
  switch (style % 7) {
    case 0:
      return fmt::format("{}{:03}{:04}", area, p.exchange, p.line);
    case 1:
      return fmt::format("({}) {:03}-{:04}", area, p.exchange, p.line);
    case 2:
      return fmt::format("{}-{:03}-{:04}", area, p.exchange, p.line);
    case 3:
      return fmt::format("+1 {} {:03} {:04}", area, p.exchange, p.line);
    case 4:
      return fmt::format("1-{}-{:03}-{:04}", area, p.exchange, p.line);
    case 5:
      return fmt::format("{}.{:03}.{:04}", area, p.exchange, p.line);
    default:
      return fmt::format("+1{}{:03}{:04}", area, p.exchange, p.line);
  }
}

void AppendField(std::string& out, std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += value;
    return;
  }
  out += '"';
  for (const char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

constexpr std::array<std::string_view, 8> kPlainFirst = {"James", "Mary", "Li",    "Noah",
                                                         "Ana",   "Omar", "Kenji", "Olivia"};
constexpr std::array<std::string_view, 8> kPlainLast = {"Smith", "Brown",  "Chen",  "Nguyen",
                                                        "Rossi", "Haddad", "Novak", "Dubois"};
constexpr std::array<std::string_view, 4> kPlainNotes = {"", "", "call after 5pm",
                                                         "VIP customer since 2019"};

class Generator {
 public:
  Generator(uint64_t seed, ContactsStyle style) : rng_(seed), style_(style) {}

  void Header(std::string& out) { out += "phoneNumber,name,account_id,email,priority,notes\n"; }

  void Row(std::string& out, int64_t index) {
    if (style_ == ContactsStyle::kPlain) {
      PlainRow(out, index);
      return;
    }
    std::string phone;
    if (rng_.Percent(1)) {
      phone = kInvalid[rng_.Below(kInvalid.size())];
    } else if (!phones_.empty() && rng_.Percent(2)) {
      phone = Spell(phones_[rng_.Below(phones_.size())], rng_.Next());
    } else {
      const Phone p{static_cast<uint32_t>(rng_.Below(kAreaCodes.size())),
                    static_cast<uint32_t>(200 + rng_.Below(800)),
                    static_cast<uint32_t>(rng_.Below(10000))};
      if (phones_.size() < 100000) phones_.push_back(p);
      phone = Spell(p, rng_.Next());
    }
    const std::string_view first = kFirst[rng_.Below(kFirst.size())];
    const std::string_view last = kLast[rng_.Below(kLast.size())];
    std::string name;
    const uint64_t shape = rng_.Below(100);
    if (shape < 10) {
      name = fmt::format("{}, {}", last, first);
    } else if (shape < 13) {
      name = fmt::format("{} \"{}\" {}", first, kNicknames[rng_.Below(kNicknames.size())], last);
    } else {
      name = fmt::format("{} {}", first, last);
    }
    std::string notes(kNotes[rng_.Below(kNotes.size())]);
    if (rng_.Percent(4)) notes = fmt::format("line one of a note\nline two for row {}", index + 2);

    AppendField(out, phone);
    out += ',';
    AppendField(out, name);
    out += ',';
    out += fmt::format("ACC-{:08}", 10000000 + index);
    out += ',';
    out += fmt::format("user{}@example.com", index);
    out += ',';
    out += static_cast<char>('1' + rng_.Below(5));
    out += ',';
    AppendField(out, notes);
    out += '\n';
  }

 private:
  void PlainRow(std::string& out, int64_t index) {
    out += fmt::format("{}{:07},{} {},ACC-{:08},user{}@example.com,{},{}\n",
                       kAreaCodes[rng_.Below(kAreaCodes.size())], 2000000 + index % 8000000,
                       kPlainFirst[rng_.Below(kPlainFirst.size())],
                       kPlainLast[rng_.Below(kPlainLast.size())], 10000000 + index, index,
                       1 + rng_.Below(5), kPlainNotes[rng_.Below(kPlainNotes.size())]);
  }

  Rng rng_;
  ContactsStyle style_;
  std::vector<Phone> phones_;
};

}  // namespace

std::string ContactsCsv(int64_t rows, uint64_t seed, ContactsStyle style) {
  Generator generator(seed, style);
  std::string out;
  generator.Header(out);
  for (int64_t i = 0; i < rows; ++i) generator.Row(out, i);
  return out;
}

absl::Status WriteContactsCsv(const std::string& path, int64_t rows, uint64_t seed,
                              ContactsStyle style) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return absl::UnavailableError(fmt::format("cannot create {}", path));
  Generator generator(seed, style);
  std::string out;
  generator.Header(out);
  bool ok = true;
  for (int64_t i = 0; i < rows && ok; ++i) {
    generator.Row(out, i);
    if (out.size() >= (1 << 20) || i + 1 == rows) {
      ok = std::fwrite(out.data(), 1, out.size(), file) == out.size();
      out.clear();
    }
  }
  if (ok && !out.empty()) ok = std::fwrite(out.data(), 1, out.size(), file) == out.size();
  ok = (std::fclose(file) == 0) && ok;
  if (!ok) return absl::UnavailableError(fmt::format("cannot write {}", path));
  return absl::OkStatus();
}

}  // namespace nexus::bench

// gen_contacts [--plain] ROWS PATH [SEED]: writes a deterministic synthetic contact CSV (see
// contacts_gen.h). Generated files belong in bench/data/, which git ignores.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/contacts_gen.h"

int main(int argc, char** argv) {
  auto style = nexus::bench::ContactsStyle::kRealistic;
  if (argc > 1 && std::string(argv[1]) == "--plain") {
    style = nexus::bench::ContactsStyle::kPlain;
    --argc;
    ++argv;
  }
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: gen_contacts [--plain] ROWS PATH [SEED]\n");
    return 2;
  }
  char* end = nullptr;
  const long long rows = std::strtoll(argv[1], &end, 10);
  if (*end != '\0' || rows < 0) {
    std::fprintf(stderr, "gen_contacts: ROWS must be a non-negative integer\n");
    return 2;
  }
  const unsigned long long seed = argc == 4 ? std::strtoull(argv[3], nullptr, 10) : 1;
  const absl::Status status = nexus::bench::WriteContactsCsv(argv[2], rows, seed, style);
  if (!status.ok()) {
    std::fprintf(stderr, "gen_contacts: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

// gen_contacts_xlsx ROWS PATH [SEED]: writes the synthetic contact list of contacts_gen.h as an
// .xlsx workbook (see xlsx_contacts_gen.h). Generated files belong in bench/data/ (git-ignored).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/xlsx_contacts_gen.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: gen_contacts_xlsx ROWS PATH [SEED]\n");
    return 2;
  }
  const int64_t rows = std::strtoll(argv[1], nullptr, 10);
  const uint64_t seed = argc == 4 ? std::strtoull(argv[3], nullptr, 10) : 1;
  const absl::Status status = nexus::bench::WriteContactsXlsx(argv[2], rows, seed);
  if (!status.ok()) {
    std::fprintf(stderr, "gen_contacts_xlsx: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

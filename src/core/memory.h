// File: core/memory.h
//
// Process memory housekeeping for a long-running server whose requests sometimes hold hundreds
// of MB for a moment (a million-row upload, building a call index).
#pragma once

#include <cstddef>

namespace nexus::core {

// Makes every allocation of at least `bytes` a private mapping that is unmapped when freed
// (glibc: a fixed M_MMAP_THRESHOLD). glibc otherwise raises that threshold each time such a
// block is freed, up to 32 MB, and later blocks of that size come from the heap, where freed
// memory stays resident: after a 10k-row and then a 1M-row upload the server kept ~200 MB it
// no longer used. Call once at start-up; a no-op elsewhere.
void MapLargeAllocations(size_t bytes);

// Hands the allocator's free memory back to the operating system (glibc: malloc_trim), so that
// the RSS of a long-running server falls again after a large, short-lived allocation such as a
// million-row upload. Costs about a millisecond per hundred MB freed; a no-op elsewhere.
// Thread-safe.
void ReleaseFreeMemory();

}  // namespace nexus::core

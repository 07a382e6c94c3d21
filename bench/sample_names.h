// File: bench/sample_names.h
//
// The names and cities the batch benchmarks draw their generated contacts from (a fifth of the
// first names and a few surnames and cities are not ASCII, as in real lists).
#pragma once

#include <string_view>

namespace nexus::bench {

inline constexpr std::string_view kFirstNames[] = {
    "Emily", "Bao",   "José",  "Zoë",    "Liam",  "Olivia", "Noah", "Ava",   "Mateo",  "Sofía",
    "Lucas", "Mia",   "Ethan", "Amelia", "Aarav", "Hana",   "Omar", "Leila", "Ivan",   "Anna",
    "Chen",  "Mei",   "Kofi",  "Ama",    "Diego", "Lucía",  "Yuki", "Sora",  "Pierre", "Chloé",
    "Hans",  "Greta", "Ravi",  "Priya",  "Tomás", "Inés",   "Sean", "Aoife", "Nikos",  "Eleni"};
inline constexpr std::string_view kLastNames[] = {
    "Davis",  "Nguyen", "Álvarez", "Smith",    "Johnson",  "Williams", "Brown",  "Jones",
    "Garcia", "Miller", "Wilson",  "Moore",    "Taylor",   "Anderson", "Thomas", "Jackson",
    "White",  "Harris", "Martin",  "Thompson", "Lopez",    "Lee",      "Walker", "Hall",
    "Allen",  "Young",  "King",    "Wright",   "Scott",    "Green",    "Baker",  "Adams",
    "Nelson", "Hill",   "Ramirez", "Campbell", "Mitchell", "Roberts",  "Carter", "Phillips"};
inline constexpr std::string_view kCities[] = {"Paris",  "London", "New York", "Berlin",
                                               "Tokyo",  "Austin", "Madrid",   "Toronto",
                                               "Sydney", "Lagos",  "Mumbai",   "São Paulo"};

}  // namespace nexus::bench

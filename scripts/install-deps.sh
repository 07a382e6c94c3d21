#!/usr/bin/env bash
# Installs every Debian 12 package Nexus needs to build, test and run.
# Idempotent: when everything is present it only checks (no apt-get update, ~0.1 s).
# Usage: scripts/install-deps.sh [--with-postgres-server]
set -euo pipefail

packages=(
  cmake ninja-build pkg-config g++ make git
  libboost-dev libsqlite3-dev sqlite3 libpq-dev
  libphonenumber-dev libprotobuf-dev libicu-dev libabsl-dev
  libminizip-dev zlib1g-dev libexpat1-dev libfreexl-dev libxlsxwriter-dev
  libssl-dev libcurl4-openssl-dev curl
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format tzdata
)
if [[ "${1:-}" == "--with-postgres-server" ]]; then
  packages+=(postgresql)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

#!/usr/bin/env bash
# The upload end to end, over HTTP, against a Release server on a fresh SQLite database:
# 1M-row and 10k-row generated CSVs (quoting, UTF-8, ~2% duplicates, ~1% invalid) uploaded in
# lenient mode with curl; wall time, rows/s and the server's peak RSS (VmHWM), beside
# `sqlite3 .import` of the same 1M-row file into a bare table (no validation), measured in the
# same run. Usage: bench/upload_bench.sh [build dir, default build/bench]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/bench}"
data=bench/data
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$data"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEXUS_BUILD_BENCH=ON \
  -DNEXUS_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target nexus gen_contacts >/dev/null
nexus="$build/src/cli/nexus"
for rows in 10000 1000000; do
  [[ -f $data/contacts_$rows.csv ]] || "$build/bench/gen_contacts" "$rows" "$data/contacts_$rows.csv"
done

# sqlite3 .import of the raw file: the floor for "load 1M rows into SQLite".
import_start=$(date +%s.%N)
sqlite3 "$work/import.db" <<SQL >/dev/null
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE contacts (phoneNumber TEXT, name TEXT, account_id TEXT, email TEXT, priority TEXT, notes TEXT);
.mode csv
.import --skip 1 $data/contacts_1000000.csv contacts
SQL
import_end=$(date +%s.%N)

db="sqlite://$work/nexus.db"
init=$("$nexus" init --db "$db" --demo --json)
token=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$init")
user=$(sed -n 's/.*"userId":"\([^"]*\)".*/\1/p' <<<"$init")
number=$(sed -n 's/.*"phoneNumberId":"\([^"]*\)".*/\1/p' <<<"$init")
"$nexus" serve --db "$db" --port 0 --spool-dir "$work" --log-level warn > "$work/serve.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/serve.out")

upload() {  # file → "status seconds"
  curl -s -o "$work/answer.json" -w '%{http_code} %{time_total}\n' \
    -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/call/upload" \
    -F "file=@$1" -F "userId=$user" -F "batchName=bench" -F batchType=outbound \
    -F "callingNumbers=[\"$number\"]" -F type=true -F enableDNC=false
}
printf '| run | rows | HTTP | wall s | rows/s | inserted | server peak RSS MB |\n| --- | ---: | --- | ---: | ---: | ---: | ---: |\n'
awk -v s="$import_start" -v e="$import_end" 'BEGIN { printf "| sqlite3 .import (no validation) | 1000000 | – | %.2f | %.0f | 1000000 | – |\n", e - s, 1e6 / (e - s) }'
for rows in 10000 1000000; do
  read -r code secs < <(upload "$data/contacts_$rows.csv")
  inserted=$(sed -n 's/.*"inserted":\([0-9]*\).*/\1/p' "$work/answer.json")
  rss=$(awk '/VmHWM/ { print $2 / 1024 }' "/proc/$server/status")
  awk -v r="$rows" -v c="$code" -v t="$secs" -v i="$inserted" -v m="$rss" \
    'BEGIN { printf "| nexus upload (HTTP, lenient) | %d | %s | %.3f | %.0f | %s | %.0f |\n", r, c, t, r / t, i, m }'
done
# An operator then opens the batch (the default view: its call index is built in the background)
# and searches it (store/call_index.h).
batch=$(sed -n 's/.*"batch":{"_id":"\([^"]*\)".*/\1/p' "$work/answer.json")
details() {  # query → seconds
  curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port/api/call/batch-details/$batch?$1"
}
open_secs=$(details "page=1")
sleep 3
search_secs=$(details "search=emily&filter=%7B%22callStatus%22%3A%22queued%22%7D")
awk -v o="$open_secs" -v s="$search_secs" 'BEGIN { printf "\nbatch-details of the 1M batch: default view %.1f ms; 3 s later, filter callStatus=queued + search \"emily\" %.1f ms\n", o * 1000, s * 1000 }'
awk '/VmHWM/ { hwm = $2 / 1024 } /VmRSS/ { rss = $2 / 1024 }
  END { printf "server peak RSS over the whole run %.0f MB; RSS now (call index held) %.0f MB\n", hwm, rss }' \
  "/proc/$server/status"

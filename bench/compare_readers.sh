#!/usr/bin/env bash
# Reads the same generated contact files with our readers and with well-known ones, in one run,
# and prints CPU seconds, wall seconds, rows/s and peak RSS for each (GNU time). Peers that are not
# installed are skipped with a note: python3 (csv, xlrd from Debian's python3-xlrd), node with
# papaparse / xlsx (SheetJS) / exceljs installed in $PEERS_DIR (npm install there; outside the repo).
# Usage: bench/compare_readers.sh [build dir, default build/bench]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/bench}"
data=bench/data
peers="${PEERS_DIR:-/tmp/nexus-peers}"
py="${PYTHON:-/usr/bin/python3}"  # Debian's, where python3-xlrd / python3-xlwt install
mkdir -p "$data"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEXUS_BUILD_BENCH=ON \
  -DNEXUS_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target gen_contacts gen_contacts_xlsx csv_scan xlsx_scan xls_bench \
  nexus-xls-reader >/dev/null

csv1m="$data/contacts_1000000.csv"; csv100k="$data/contacts_100000.csv"
xlsx100k="$data/contacts_100000.xlsx"; xls50k="$data/contacts_50000.xls"
[[ -f $csv1m ]] || "$build/bench/gen_contacts" 1000000 "$csv1m"
[[ -f $csv100k ]] || "$build/bench/gen_contacts" 100000 "$csv100k"
[[ -f $xlsx100k ]] || "$build/bench/gen_contacts_xlsx" 100000 "$xlsx100k"
if [[ ! -f $xls50k ]] && "$py" -c 'import xlwt' 2>/dev/null; then
  "$build/bench/gen_contacts" 50000 "$data/contacts_50000.csv"
  "$py" bench/gen_contacts_xls.py "$data/contacts_50000.csv" "$xls50k"
fi

printf '| reader | file | rows | cpu s | wall s | rows/s (wall) | MB/s (wall) | peak RSS MB |\n'
printf '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
run() {  # name file rows command...
  local name=$1 file=$2 rows=$3; shift 3
  local out; out=$(mktemp)
  if ! /usr/bin/time -f '%U %S %e %M' -o "$out" "$@" >/dev/null 2>&1; then
    printf '| %s | %s | – | failed | | | | |\n' "$name" "$(basename "$file")"; rm -f "$out"; return
  fi
  read -r user sys wall rss < "$out"; rm -f "$out"
  local bytes; bytes=$(stat -c %s "$file")
  awk -v n="$name" -v f="$(basename "$file")" -v r="$rows" -v u="$user" -v s="$sys" -v w="$wall" \
      -v m="$rss" -v b="$bytes" 'BEGIN { w = (w < 0.01 ? 0.01 : w);
      printf "| %s | %s | %d | %.2f | %.2f | %.0f | %.0f | %.1f |\n", n, f, r, u + s, w, r / w,
             b / w / 1e6, m / 1024 }'
}
run "wc -l (ceiling)" "$csv1m" 1000000 wc -l "$csv1m"
run "nexus CsvReader" "$csv1m" 1000000 "$build/bench/csv_scan" "$csv1m"
run "python3 csv" "$csv1m" 1000000 "$py" -c \
  'import csv,sys; n=sum(1 for _ in csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))' "$csv1m"
if [[ -d $peers/node_modules/papaparse ]]; then
  run "papaparse (node)" "$csv1m" 1000000 node -e \
    'const P=require(process.argv[1]+"/node_modules/papaparse");const fs=require("fs");let n=0;
     P.parse(fs.createReadStream(process.argv[2]),{step:()=>n++,complete:()=>{}})' "$peers" "$csv1m"
fi
run "nexus XlsxReader" "$xlsx100k" 100000 "$build/bench/xlsx_scan" "$xlsx100k"
if [[ -d $peers/node_modules/xlsx ]]; then
  run "SheetJS (node)" "$xlsx100k" 100000 node -e \
    'const X=require(process.argv[1]+"/node_modules/xlsx");const w=X.readFile(process.argv[2]);
     X.utils.sheet_to_json(w.Sheets[w.SheetNames[0]],{header:1})' "$peers" "$xlsx100k"
fi
if [[ -d $peers/node_modules/exceljs ]]; then
  run "exceljs stream (node)" "$xlsx100k" 100000 node -e \
    'const E=require(process.argv[1]+"/node_modules/exceljs");(async()=>{let n=0;
     for await (const ws of new E.stream.xlsx.WorkbookReader(process.argv[2])) for await (const r of ws) n++;})()' \
    "$peers" "$xlsx100k"
fi
if [[ -f $xls50k ]]; then
  run "nexus XlsReader (child process)" "$xls50k" 50000 "$build/bench/xls_bench" \
    --benchmark_filter=BM_XlsReader --benchmark_min_time=0.01
  if "$py" -c 'import xlrd' 2>/dev/null; then
    run "python3 xlrd" "$xls50k" 50000 "$py" bench/xlrd_xls.py "$xls50k" 1
  fi
fi

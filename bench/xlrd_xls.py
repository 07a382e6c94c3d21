#!/usr/bin/python3
# Baseline for the XLS reader benchmark: reads every cell of the first sheet with python3-xlrd
# 1.2 (Debian: apt-get install python3-xlrd) and prints rows/s, best of N runs.
#   /usr/bin/python3 bench/xlrd_xls.py bench/data/contacts_50000.xls [RUNS]
import sys
import time

import xlrd


def main():
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    best = None
    for _ in range(runs):
        start = time.perf_counter()
        book = xlrd.open_workbook(path, on_demand=True)
        sheet = book.sheet_by_index(0)
        rows = 0
        for r in range(sheet.nrows):
            sheet.row_values(r)
            rows += 1
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    print(f"xlrd {xlrd.__VERSION__}: {rows} rows in {best:.3f} s = {rows / best:,.0f} rows/s")


if __name__ == "__main__":
    main()

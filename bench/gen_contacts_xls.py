#!/usr/bin/python3
# Writes a contact list CSV (from bench/gen_contacts) as a BIFF8 .xls workbook with python3-xlwt
# (Debian: apt-get install python3-xlwt; run with /usr/bin/python3). Same columns:
# phoneNumber,name,account_id,email,priority,notes. Digits-only phone numbers and the priority
# become NUMBER cells (as Excel stores typed digits); everything else is text (shared strings).
# BIFF8 holds at most 65,536 rows. Output belongs in bench/data/ (git-ignored).
#
#   build/bench/bench/gen_contacts 50000 bench/data/contacts_50000.csv
#   /usr/bin/python3 bench/gen_contacts_xls.py bench/data/contacts_50000.csv \
#       bench/data/contacts_50000.xls
import csv
import sys

import xlwt


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_contacts_xls.py CONTACTS.csv OUT.xls")
    with open(sys.argv[1], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) > 65536:
        sys.exit("BIFF8 holds at most 65,536 rows")
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Contacts")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if r > 0 and c in (0, 4) and value.isdigit():
                ws.write(r, c, int(value))
            else:
                ws.write(r, c, value)
    wb.save(sys.argv[2])


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# Generates the .xls fixtures of src/ingest/xls_reader_test.cc and format_sniff_test.cc.
#
# Needs Debian's python3-xlwt (1.3.0: `apt-get install python3-xlwt`; run with /usr/bin/python3,
# not a pyenv python). The generated files are committed: tests never run this script.
# Deterministic: the same xlwt gives the same bytes. Usage:
#   /usr/bin/python3 tests/data/xls/make_fixtures.py [OUTPUT_DIR]   (default: this directory)
#
# Files:
#   values.xls           header + typed cells (text, numbers incl. 12125551234 as a NUMBER
#                        record, dates with date formats, booleans, a formula, Unicode), blank and
#                        whitespace-only rows, a sparse row, a cell beyond the header; a second
#                        sheet that must be ignored.
#   blank_start.xls      two blank rows before the header (header = row 3).
#   empty.xls            one sheet without cells.
#   dates1904.xls        the 1904 date system.
#   encrypted_filepass.xls   values.xls with a FILEPASS record after the globals BOF (RC4
#                        header) and otherwise plain records: what FreeXL itself flags.
#   encrypted_scrambled.xls  the same, with every record body after FILEPASS XOR-scrambled (record
#                        headers and the BOUNDSHEET offsets stay clear), like a real RC4-encrypted
#                        BIFF8 stream. xlwt cannot encrypt; a real Excel file would have RC4 bodies.
#   truncated.xls        the first half of values.xls.
#   garbage_ole2.xls     the OLE2 signature followed by pseudo-random bytes.
#   ole2_encryption_info.xlsx  an OLE2 file whose only stream is named "EncryptionInfo" (the
#                        shape of a password-protected .xlsx), made by renaming the Workbook
#                        directory entry of values.xls.
#   sheet_order.xls      first sheet "Second" with its own data, then "First": the reader takes
#                        the first sheet in workbook order.
#   chart_first.xls      sheet_order.xls with the first BOUNDSHEET typed as a chart sheet: the
#                        reader takes the first worksheet ("First").
#   formulas.xls         FORMULA records with cached results (number, date-formatted number,
#                        string + STRING record, boolean, error) and BOOLERR booleans/errors.
#                        xlwt writes formulas without a cached value, so the script patches the
#                        result into xlwt's FORMULA records (CACHED below).
#   conformance.xls      the sheet of src/ingest/conformance_test.cc, as BIFF8.
#
# Not made here: fuzz/*.xls, inputs found by fuzz/xls_reader_fuzz.cc that crash FreeXL 1.0.6 or
# make it misbehave (xls_reader_test.cc FuzzerFindingsAreContained keeps them harmless).
import datetime
import io
import os
import random
import struct
import sys

import xlwt
from xlwt import Cell, CompoundDoc

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

DATE = xlwt.easyxf(num_format_str="YYYY-MM-DD")
DATETIME = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
US_DATE = xlwt.easyxf(num_format_str="M/D/YY")  # built-in format 14


# (row, column) → cached formula result, written into xlwt's FORMULA records by the patch below.
CACHED = {}
_formula_biff = Cell.FormulaCell.get_biff_data


def _formula_biff_with_cache(self):
    data = _formula_biff(self)  # record header (4) + row, col, xf (6) + result (8) + ...
    cached = CACHED.get((self.rowx, self.colx))
    if cached is None:
        return data
    kind, value = cached
    if kind == "num":
        result = struct.pack("<d", value)
    elif kind == "str":
        result = struct.pack("<Q", 0xFFFF000000000000)
    elif kind == "bool":
        result = struct.pack("<6BH", 1, 0, int(value), 0, 0, 0, 0xFFFF)
    else:  # "err": an error code (0x2A = #N/A)
        result = struct.pack("<6BH", 2, 0, value, 0, 0, 0, 0xFFFF)
    data = data[:10] + result + data[18:]
    if kind == "str":  # the STRING record with the result follows the FORMULA record
        body = struct.pack("<HB", len(value), 1) + value.encode("utf-16-le")
        data += struct.pack("<HH", 0x0207, len(body)) + body
    return data


Cell.FormulaCell.get_biff_data = _formula_biff_with_cache


def formula(row, col, text, cached):
    CACHED[(row, col)] = cached
    return xlwt.Formula(text)


def values_workbook(cls=xlwt.Workbook):
    wb = cls(encoding="utf-8")
    ws = wb.add_sheet("Contacts")
    header = ["phoneNumber", "name", "amount", "joined", "active", "notes"]
    for c, h in enumerate(header):
        ws.write(0, c, h)
    # row 2: typed cells
    ws.write(1, 0, 12125551234)          # NUMBER record (too big for RK)
    ws.write(1, 1, "Ann")
    ws.write(1, 2, 12.5)
    ws.write(1, 3, datetime.date(2024, 3, 5), DATE)
    ws.write(1, 4, True)                 # BOOLERR
    ws.write(1, 5, "first note")
    # row 3: blank (nothing written)
    # row 4: text phone, datetime, False, empty note
    ws.write(3, 0, "+1 212 555 0000")
    ws.write(3, 1, "Bob")
    ws.write(3, 2, 0.1)
    ws.write(3, 3, datetime.datetime(2023, 12, 31, 13, 45), DATETIME)
    ws.write(3, 4, False)
    # row 5: whitespace-only cells: blank
    ws.write(4, 0, "   ")
    ws.write(4, 1, "\t")
    # row 6: sparse: only the notes column, plus a cell beyond the header (column H)
    ws.write(5, 5, "only notes")
    ws.write(5, 7, "beyond")
    # row 7: negatives, big numbers, Unicode, small integer (RK), a formula, US date
    ws.write(6, 0, -42)
    ws.write(6, 1, "Zoë 日本")
    ws.write(6, 2, 1e20)
    ws.write(6, 3, datetime.date(1999, 12, 31), US_DATE)
    ws.write(6, 4, xlwt.Formula("1+2"))
    ws.write(6, 5, "  padded  ")
    # row 8: integer that fits RK, decimals
    ws.write(7, 0, 7)
    ws.write(7, 1, "x")
    ws.write(7, 2, 1234.5678)
    other = wb.add_sheet("Ignored")
    other.write(0, 0, "not read")
    return wb


def save(wb, name):
    wb.save(os.path.join(OUT, name))


def biff_stream(wb):
    return wb.get_biff_data()


def write_ole2(stream, name):
    with open(os.path.join(OUT, name), "wb") as f:
        CompoundDoc.XlsDoc().save(f, stream)


def filepass_record():
    # FILEPASS, RC4 (wEncryptionType 1, version 1.1): 6 bytes header + salt/verifier/hash (48).
    body = struct.pack("<HHH", 1, 1, 1) + bytes(range(48))
    return struct.pack("<HH", 0x002F, len(body)) + body


class FilepassWorkbook(xlwt.Workbook):
    # xlwt computes the BOUNDSHEET offsets from the length of what it writes before them, so a
    # FILEPASS record added to the interface header record keeps every offset right.
    def _Workbook__intf_hdr_rec(self):
        return filepass_record() + super()._Workbook__intf_hdr_rec()


def scramble(stream):
    # XOR every record body after the first FILEPASS with a fixed pseudo-random key, except BOF
    # records and the first 4 bytes (stream offset) of BOUNDSHEET records.
    out = bytearray(stream)
    rng = random.Random(1)
    pos = 0
    seen_filepass = False
    while pos + 4 <= len(out):
        rtype, size = struct.unpack_from("<HH", out, pos)
        body = pos + 4
        if seen_filepass and rtype not in (0x0809, 0x002F):
            start = body + 4 if rtype == 0x0085 else body
            for i in range(start, body + size):
                out[i] ^= rng.randrange(1, 256)
        if rtype == 0x002F:
            seen_filepass = True
        pos = body + size
    return bytes(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    save(values_workbook(), "values.xls")

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    ws.write(2, 0, "phoneNumber")
    ws.write(2, 1, "name")
    ws.write(3, 0, "2125550100")
    ws.write(3, 1, "Cy")
    save(wb, "blank_start.xls")

    wb = xlwt.Workbook(encoding="utf-8")
    wb.add_sheet("Empty")
    save(wb, "empty.xls")

    wb = xlwt.Workbook(encoding="utf-8")
    wb.dates_1904 = True
    ws = wb.add_sheet("Sheet1")
    ws.write(0, 0, "joined")
    ws.write(1, 0, datetime.date(2024, 3, 5), DATE)
    save(wb, "dates1904.xls")

    wb = xlwt.Workbook(encoding="utf-8")
    first = wb.add_sheet("Second")
    first.write(0, 0, "sheet")
    first.write(1, 0, "second-named, first in order")
    last = wb.add_sheet("First")
    last.write(0, 0, "sheet")
    last.write(1, 0, "last")
    save(wb, "sheet_order.xls")

    wb = xlwt.Workbook(encoding="utf-8")
    first = wb.add_sheet("Second")
    first.write(0, 0, "sheet")
    first.write(1, 0, "a chart sheet, in truth")
    last = wb.add_sheet("First")
    last.write(0, 0, "sheet")
    last.write(1, 0, "first worksheet")
    stream = bytearray(biff_stream(wb))
    pos = 0
    while True:  # type the first BOUNDSHEET as a chart sheet (dt = 2)
        rtype, size = struct.unpack_from("<HH", stream, pos)
        if rtype == 0x0085:
            stream[pos + 4 + 5] = 2
            break
        pos += 4 + size
    write_ole2(bytes(stream), "chart_first.xls")

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Formulas")
    for c, h in enumerate(["number", "date", "text", "flag", "error", "bool", "nocache"]):
        ws.write(0, c, h)
    ws.write(1, 0, formula(1, 0, "0.1+0.2", ("num", 0.1 + 0.2)))
    ws.write(1, 1, formula(1, 1, "DATE(2024,3,5)", ("num", 45356.0)), DATE)
    ws.write(1, 2, formula(1, 2, "\"+1 212 \"&\"555 0100\"", ("str", "+1 212 555 0100 ☎")))
    ws.write(1, 3, formula(1, 3, "1=1", ("bool", True)))
    ws.write(1, 4, formula(1, 4, "NA()", ("err", 0x2A)))
    ws.write(1, 5, False)
    ws.write(1, 6, xlwt.Formula("1+1"))  # no cached value (as xlwt writes it): empty
    ws.write(2, 0, formula(2, 0, "12125551234", ("num", 12125551234.0)))
    ws.write(2, 3, formula(2, 3, "1=0", ("bool", False)))
    ws.write(2, 5, True)
    ws.row(2).set_cell_error(6, 0x2A)  # a BOOLERR error: empty, as the XLSX reader reads it
    save(wb, "formulas.xls")

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet")
    for c, h in enumerate(["phoneNumber", "name", "amount", "signup", "vip", "notes"]):
        ws.write(0, c, h)
    ws.write(1, 0, 12125551234)
    ws.write(1, 1, "O'Brien, Zoë")
    ws.write(1, 2, 1.5)
    ws.write(1, 3, datetime.date(2023, 3, 15), DATE)
    ws.write(1, 4, True)
    ws.write(1, 5, "first")
    ws.write(2, 2, None, DATE)  # styled but empty (BLANK record): still a blank row
    ws.write(3, 0, "+1 646 555 0199")
    ws.write(3, 1, "José")
    ws.write(3, 2, -3.25)
    ws.write(3, 3, datetime.datetime(2024, 2, 29, 18, 45), US_DATE)  # time of day dropped
    ws.write(3, 4, False)
    ws.write(4, 0, 6465550100)
    ws.write(4, 1, "Li")
    ws.write(4, 2, formula(4, 2, "0.1+0.2", ("num", 0.1 + 0.2)))
    ws.write(4, 3, datetime.date(1999, 12, 31), DATE)
    ws.write(4, 4, True)
    ws.write(4, 5, "two\nlines")
    ws.write(5, 0, "  ")
    ws.write(5, 1, " ")
    ws.write(6, 5, "orphan note")
    save(wb, "conformance.xls")

    encrypted = biff_stream(values_workbook(FilepassWorkbook))
    write_ole2(encrypted, "encrypted_filepass.xls")
    write_ole2(scramble(encrypted), "encrypted_scrambled.xls")

    buf = io.BytesIO()
    values_workbook().save(buf)
    data = buf.getvalue()
    with open(os.path.join(OUT, "truncated.xls"), "wb") as f:
        f.write(data[: len(data) // 2])

    rng = random.Random(7)
    with open(os.path.join(OUT, "garbage_ole2.xls"), "wb") as f:
        f.write(bytes([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]))
        f.write(bytes(rng.randrange(256) for _ in range(4088)))

    # Rename the "Workbook" directory entry (128-byte aligned) to "EncryptionInfo".
    old = "Workbook\0".encode("utf-16-le")
    at = data.find(old)
    assert at >= 512 and at % 128 == 0, at
    new = "EncryptionInfo\0".encode("utf-16-le")
    patched = bytearray(data)
    patched[at : at + 64] = new + bytes(64 - len(new))
    struct.pack_into("<H", patched, at + 64, len(new))
    with open(os.path.join(OUT, "ole2_encryption_info.xlsx"), "wb") as f:
        f.write(bytes(patched))


if __name__ == "__main__":
    main()

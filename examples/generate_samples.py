#!/usr/bin/env python3
"""Writes the sample PDFs of examples/: real-looking multi-page business documents
with a text layer (an invoice, a letter, a quarterly report, meeting minutes, a lab
report, a datasheet, a service agreement).

Python standard library only, and deterministic: running it again produces the same
bytes, so the committed PDFs can be checked against it:

    python3 examples/generate_samples.py            # rewrite examples/*.pdf
    python3 examples/generate_samples.py --check    # exit 1 if a committed PDF differs

The PDFs use the standard Type 1 fonts (Helvetica, Helvetica-Bold) with WinAnsiEncoding,
so any viewer and `pdftotext` read them without embedded fonts.
"""

import argparse
import os
import sys
import zlib

# Advance widths of Helvetica and Helvetica-Bold for ASCII 32..126, in 1/1000 em
# (from the Adobe core font metrics); used only to lay out and right-align text.
_HELVETICA = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
]
_HELVETICA_BOLD = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
]

PAGE_W, PAGE_H = 595, 842  # A4 in points
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 64, 64, 70, 72


def text_width(text, size, bold=False):
    table = _HELVETICA_BOLD if bold else _HELVETICA
    total = 0
    for ch in text:
        code = ord(ch)
        total += table[code - 32] if 32 <= code <= 126 else 556
    return total * size / 1000.0


def pdf_string(text):
    data = text.encode("cp1252")
    out = bytearray(b"(")
    for b in data:
        if b in (0x28, 0x29, 0x5C):
            out += b"\\" + bytes([b])
        elif b < 32 or b > 126:
            out += b"\\%03o" % b
        else:
            out.append(b)
    out += b")"
    return bytes(out)


def wrap(text, size, width, bold=False):
    lines, line = [], ""
    for word in text.split():
        candidate = word if not line else line + " " + word
        if text_width(candidate, size, bold) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


class Document:
    """A flowing layout: blocks are placed top to bottom and break across pages."""

    def __init__(self, title, footer):
        self.title = title
        self.footer = footer
        self.pages = []
        self.new_page()

    def new_page(self):
        self.ops = []
        self.pages.append(self.ops)
        self.y = PAGE_H - MARGIN_T

    def ensure(self, height):
        if self.y - height < MARGIN_B:
            self.new_page()

    def text(self, x, y, text, size=10.5, bold=False):
        font = b"/F2" if bold else b"/F1"
        self.ops.append(b"BT %s %.1f Tf %.2f %.2f Td %s Tj ET" % (font, size, x, y, pdf_string(text)))

    def rule(self, x1, y, x2, width=0.6, gray=0.55):
        self.ops.append(b"%.2f G %.2f w %.2f %.2f m %.2f %.2f l S 0 G" % (gray, width, x1, y, x2, y))

    def box(self, x, y, w, h, gray=0.93):
        self.ops.append(b"%.2f g %.2f %.2f %.2f %.2f re f 0 g" % (gray, x, y, w, h))

    # Blocks.
    def heading(self, text, size=13):
        self.ensure(size * 3.2)
        self.y -= size * 1.5
        self.text(MARGIN_L, self.y, text, size, bold=True)
        self.y -= size * 0.8

    def title_block(self, text, subtitle=None):
        self.ensure(60)
        self.text(MARGIN_L, self.y - 14, text, 20, bold=True)
        self.y -= 24
        if subtitle:
            self.y -= 14
            self.text(MARGIN_L, self.y, subtitle, 11)
        self.y -= 10
        self.rule(MARGIN_L, self.y, PAGE_W - MARGIN_R, 1.2, 0.2)
        self.y -= 12

    def paragraph(self, text, size=10.5, leading=14.5, indent=0, bold=False, after=6):
        width = PAGE_W - MARGIN_L - MARGIN_R - indent
        for line in wrap(text, size, width, bold):
            self.ensure(leading)
            self.y -= leading
            self.text(MARGIN_L + indent, self.y, line, size, bold)
        self.y -= after

    def bullets(self, items, size=10.5):
        for item in items:
            width = PAGE_W - MARGIN_L - MARGIN_R - 16
            lines = wrap(item, size, width)
            for i, line in enumerate(lines):
                self.ensure(14.5)
                self.y -= 14.5
                if i == 0:
                    self.text(MARGIN_L + 4, self.y, "-", size)
                self.text(MARGIN_L + 16, self.y, line, size)
        self.y -= 6

    def fields(self, pairs, label_width=130, size=10.5):
        for label, value in pairs:
            self.ensure(14.5)
            self.y -= 14.5
            self.text(MARGIN_L, self.y, label, size, bold=True)
            self.text(MARGIN_L + label_width, self.y, value, size)
        self.y -= 8

    def table(self, columns, rows, size=9.5, row_h=15, bold_last=False, keep=False):
        """columns: [(header, width, 'l'|'r')]; rows: lists of strings. keep: never split."""
        total_w = sum(c[1] for c in columns)
        if keep:
            self.ensure(row_h * (len(rows) + 1) + 14)

        def header():
            self.ensure(row_h * 2)
            self.box(MARGIN_L, self.y - row_h, total_w, row_h)
            self.y -= row_h
            self.put_row([c[0] for c in columns], columns, size, True)

        header()
        for i, row in enumerate(rows):
            if self.y - row_h < MARGIN_B:
                self.new_page()
                header()
            self.y -= row_h
            last = bold_last and i == len(rows) - 1
            if last:
                self.rule(MARGIN_L, self.y + row_h - 2, MARGIN_L + total_w, 0.8, 0.3)
            self.put_row(row, columns, size, last)
        self.rule(MARGIN_L, self.y - 4, MARGIN_L + total_w)
        self.y -= 14

    def put_row(self, cells, columns, size, bold):
        x = MARGIN_L
        for cell, (_, width, align) in zip(cells, columns):
            if align == "r":
                self.text(x + width - 5 - text_width(cell, size, bold), self.y + 4, cell, size, bold)
            else:
                self.text(x + 5, self.y + 4, cell, size, bold)
            x += width

    def space(self, points):
        self.y -= points

    def signature(self, name, role):
        self.ensure(60)
        self.y -= 34
        self.rule(MARGIN_L, self.y, MARGIN_L + 180, 0.6, 0.2)
        self.y -= 13
        self.text(MARGIN_L, self.y, name, 10.5, bold=True)
        self.y -= 13
        self.text(MARGIN_L, self.y, role, 10)
        self.y -= 8

    def render(self):
        """The whole file as bytes."""
        objects = []  # index i holds object number i+1

        def add(body):
            objects.append(body)
            return len(objects)

        catalog = add(None)
        pages_obj = add(None)
        f1 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
        f2 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
        page_ids = []
        count = len(self.pages)
        for number, ops in enumerate(self.pages, start=1):
            footer = list(ops)
            self.ops = footer
            self.rule(MARGIN_L, MARGIN_B - 22, PAGE_W - MARGIN_R, 0.5, 0.6)
            self.text(MARGIN_L, MARGIN_B - 36, self.footer, 8.5)
            label = "Page %d of %d" % (number, count)
            self.text(PAGE_W - MARGIN_R - text_width(label, 8.5), MARGIN_B - 36, label, 8.5)
            raw = b"\n".join(footer) + b"\n"
            data = zlib.compress(raw, 9)
            content = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream")
            page_ids.append(add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>"
                % (pages_obj, PAGE_W, PAGE_H, content, f1, f2)))
        objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
        objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
            b" ".join(b"%d 0 R" % p for p in page_ids), count)
        info = add(b"<< /Title %s /Producer (batchscribe examples/generate_samples.py) >>" % pdf_string(self.title))

        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        for off in offsets:
            out += b"%010d 00000 n \n" % off
        out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(objects) + 1, catalog, info, xref)
        return bytes(out)


def money(cents):
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return "%s%s.%02d" % (sign, "{:,}".format(cents // 100), cents % 100)


# ---------------------------------------------------------------------------
# The documents.

def invoice():
    d = Document("Invoice INV-2024-0117", "Northwind Office Supply Ltd. - Invoice INV-2024-0117")
    d.title_block("INVOICE", "Northwind Office Supply Ltd. - 14 Harbour Road, Bristol BS1 4RN - VAT GB 284 1193 52")
    d.fields([("Invoice number", "INV-2024-0117"), ("Invoice date", "12 March 2024"),
              ("Due date", "11 April 2024"), ("Customer number", "C-30482"),
              ("Purchase order", "PO-77810")])
    d.heading("Bill to")
    d.paragraph("Fairfield Dental Practice, attn. Accounts Payable, 2 Station Approach, "
                "Fairfield, Bath BA2 7QE, United Kingdom")
    d.heading("Items")
    items = [
        ("A4 copier paper 80 g/m2, box of 5 reams", 12, 2450),
        ("Toner cartridge HP 59A, black", 4, 8990),
        ("Gel pens, blue, pack of 12", 6, 745),
        ("Ring binders A4, 40 mm, pack of 10", 3, 1820),
        ("Sticky notes 76 x 76 mm, pack of 12", 8, 560),
        ("Desk organiser, mesh, black", 5, 1299),
        ("Lever arch files, pack of 10", 4, 2150),
        ("Whiteboard markers, assorted, pack of 8", 6, 699),
        ("Laminating pouches A4, pack of 100", 2, 1475),
        ("Envelopes C5, self-seal, box of 500", 3, 2240),
        ("Printer labels 99.1 x 38.1 mm, 100 sheets", 2, 1890),
        ("Stapler, heavy duty, 100 sheets", 1, 3450),
        ("Staples 26/6, box of 5000", 10, 199),
        ("Highlighters, 4 colours, wallet", 6, 425),
        ("Document wallets, manilla, pack of 50", 2, 1560),
        ("Shredder bags, 30 litre, pack of 50", 1, 2299),
        ("Cleaning wipes for screens, tub of 100", 4, 650),
        ("Archive boxes, pack of 10", 3, 2899),
        ("Calculator, desktop, 12 digit", 2, 1195),
        ("USB flash drive 64 GB", 5, 899),
        ("Keyboard, wired, UK layout", 2, 1850),
        ("Mouse, optical, wired", 4, 799),
        ("Monitor stand, adjustable", 2, 3499),
        ("Cable ties, assorted, pack of 200", 1, 549),
        ("Appointment cards, printed, 1000", 2, 4200),
        ("Patient record folders, pack of 100", 3, 3650),
    ]
    rows, subtotal = [], 0
    for i, (desc, qty, unit) in enumerate(items, start=1):
        amount = qty * unit
        subtotal += amount
        rows.append([str(i), desc, str(qty), money(unit), money(amount)])
    d.table([("#", 26, "r"), ("Description", 252, "l"), ("Qty", 40, "r"), ("Unit GBP", 74, "r"),
             ("Amount GBP", 75, "r")], rows)
    discount = -subtotal * 5 // 100
    vat = (subtotal + discount) * 20 // 100
    total = subtotal + discount + vat
    d.table([("Summary", 392, "l"), ("GBP", 75, "r")],
            [["Subtotal", money(subtotal)], ["Loyalty discount 5%", money(discount)],
             ["VAT 20%", money(vat)], ["Total due", money(total)]], bold_last=True, keep=True)
    d.heading("Payment")
    d.paragraph("Please pay within 30 days by bank transfer to Northwind Office Supply Ltd., "
                "sort code 20-45-77, account 43918820, quoting the invoice number INV-2024-0117 "
                "as the payment reference. Late payments incur interest at 8% above the Bank of "
                "England base rate under the Late Payment of Commercial Debts Act 1998.")
    d.paragraph("Goods remain the property of Northwind Office Supply Ltd. until paid in full. "
                "Questions about this invoice: accounts@northwind-supply.co.uk, 0117 496 0381.")
    return d


def letter():
    d = Document("Lease renewal offer - Unit 4, Kingsway Trade Park", "Harlow & Finch Property Management")
    d.title_block("Harlow & Finch Property Management", "38 Queen Street, Leeds LS1 2TW - 0113 496 0722")
    d.paragraph("Ms. Priya Natarajan, Managing Director, Natarajan Precision Engineering Ltd., "
                "Unit 4, Kingsway Trade Park, Leeds LS11 5BE", after=12)
    d.paragraph("Leeds, 3 June 2024", after=12)
    d.paragraph("Our reference: HF/KTP/U4/2024-06", bold=True, after=12)
    d.paragraph("Subject: Renewal of your lease of Unit 4, Kingsway Trade Park", bold=True, after=10)
    d.paragraph("Dear Ms. Natarajan,")
    body = [
        "Your current lease of Unit 4, Kingsway Trade Park, dated 1 October 2019, expires on "
        "30 September 2024. On behalf of the landlord, Kingsway Estates plc, we are pleased to "
        "offer you a renewal on the terms set out below, which we believe reflect both the "
        "excellent relationship of the past five years and current market conditions on the estate.",
        "The landlord proposes a new lease of five years from 1 October 2024, with a tenant-only "
        "break option at the end of the third year on six months' written notice. The annual rent "
        "would be GBP 46,800 exclusive of VAT, payable quarterly in advance, an increase of 4.2% on "
        "the passing rent. This compares with GBP 49,500 achieved on the recent letting of the "
        "comparable Unit 7.",
        "In recognition of your tenancy, the landlord will grant a rent-free period of three months "
        "from the start of the new term, conditional on completion of the new lease before "
        "15 September 2024. The service charge budget for the coming year is GBP 5,640, unchanged "
        "from the current year, and the insurance rent is estimated at GBP 1,210.",
        "The landlord also intends to replace the roof lights of Units 1 to 6 during the spring of "
        "2025. The works will be carried out at the landlord's cost and will not be recovered "
        "through the service charge. We will agree access arrangements with you at least four "
        "weeks before the works begin, so that production is not disrupted.",
        "The other terms of your existing lease would remain unchanged, including the permitted "
        "use for light industrial purposes within Class E(g)(iii), the repairing obligations and "
        "the schedule of condition attached to the 2019 lease.",
    ]
    for p in body:
        d.paragraph(p)
    d.heading("Summary of the proposed terms", 11.5)
    d.table([("Term", 170, "l"), ("Proposed", 297, "l")], [
        ["Start of the new lease", "1 October 2024"],
        ["Length", "5 years"],
        ["Break option", "Tenant only, end of year 3, 6 months' notice"],
        ["Annual rent", "GBP 46,800 exclusive of VAT"],
        ["Rent-free period", "3 months if completed by 15 September 2024"],
        ["Service charge budget", "GBP 5,640 per year"],
        ["Rent review", "Open market review at the end of year 3"],
        ["Deposit", "Existing deposit of GBP 11,700 carried over"],
    ])
    for p in [
        "Please let us know by 12 July 2024 whether you wish to proceed, so that the landlord's "
        "solicitors can prepare the draft lease. If you would like to discuss any of these terms, "
        "or to view the roof light specification, I would be glad to meet you at the unit.",
        "This letter is not an offer capable of acceptance and is subject to contract and to the "
        "approval of the landlord's board.",
        "Yours sincerely,",
    ]:
        d.paragraph(p)
    d.signature("Thomas Harlow MRICS", "Senior Asset Manager, for Kingsway Estates plc")
    d.paragraph("Copy: Mr. D. Okafor, Okafor & Lane Solicitors", size=9.5)
    return d


def report():
    d = Document("Quarterly Operations Report Q3 2024", "Brightwater Logistics - Operations Report Q3 2024 - Internal")
    d.title_block("Quarterly Operations Report", "Brightwater Logistics - Third quarter 2024 (July to September)")
    d.heading("1. Summary")
    d.paragraph("Volumes grew by 7.8% against the second quarter, driven by the new grocery "
                "contract at the Daventry hub, while cost per parcel fell for the third quarter "
                "in a row. On-time delivery reached 96.4%, the best result since the network was "
                "reorganised in 2022. Two incidents affected service: a conveyor failure at "
                "Daventry on 14 August and the rail disruption of 9 to 11 September.")
    d.bullets([
        "Parcels handled: 18.42 million (Q2: 17.09 million).",
        "On-time delivery: 96.4% (target 95.0%).",
        "Cost per parcel: GBP 1.87 (Q2: GBP 1.93).",
        "Lost-time injuries: 2 (Q2: 4).",
        "Customer complaints per 10,000 parcels: 3.1 (Q2: 3.6).",
    ])
    d.heading("2. Volumes by hub")
    d.table([("Hub", 130, "l"), ("Q2 parcels", 85, "r"), ("Q3 parcels", 85, "r"), ("Change", 70, "r"),
             ("On time", 97, "r")], [
        ["Daventry", "6,120,400", "6,980,150", "+14.0%", "95.1%"],
        ["Warrington", "4,310,900", "4,402,600", "+2.1%", "97.2%"],
        ["Bristol", "2,870,300", "2,941,800", "+2.5%", "96.9%"],
        ["Glasgow", "2,105,700", "2,168,200", "+3.0%", "97.8%"],
        ["Thurrock", "1,682,900", "1,927,450", "+14.5%", "96.0%"],
        ["Network", "17,090,200", "18,420,200", "+7.8%", "96.4%"],
    ], bold_last=True)
    d.paragraph("Daventry and Thurrock account for most of the growth. At Daventry the grocery "
                "contract added about 610,000 parcels in its first full quarter; Thurrock gained "
                "from the transfer of two retail customers previously served from Bristol.")
    d.heading("3. Service")
    d.paragraph("On-time delivery improved at every hub except Daventry, where the conveyor "
                "failure of 14 August stopped the main sorter for nine hours. About 142,000 "
                "parcels were delayed by one day; all were delivered by 16 August. The root cause "
                "was a worn drive bearing that had not been included in the preventive "
                "maintenance schedule. The schedule has since been revised for all five hubs.")
    d.paragraph("The rail disruption in September affected trunk services between Warrington and "
                "Glasgow. We moved 38 trailers to road for three days at an extra cost of "
                "GBP 41,300; service in Scotland stayed above 97%.")
    d.heading("4. Costs")
    d.table([("Cost line (GBP thousand)", 190, "l"), ("Q2", 70, "r"), ("Q3", 70, "r"),
             ("Per parcel Q3", 137, "r")], [
        ["Labour", "16,420", "17,210", "0.934"],
        ["Linehaul", "8,930", "9,410", "0.511"],
        ["Property", "3,105", "3,118", "0.169"],
        ["Energy", "1,240", "1,186", "0.064"],
        ["Maintenance", "1,010", "1,162", "0.063"],
        ["Other", "2,280", "2,360", "0.128"],
        ["Total", "32,985", "34,446", "1.870"],
    ], bold_last=True)
    d.paragraph("Labour cost per parcel fell by 4% thanks to the second shift pattern introduced "
                "at Warrington in June. Energy costs fell as the fixed-price electricity contract "
                "took effect on 1 July. Maintenance costs rose because of the Daventry repairs and "
                "the bearing replacement programme.")
    d.heading("5. Safety")
    d.paragraph("Two lost-time injuries were recorded: a hand injury during a trailer coupling at "
                "Bristol and a fall from a loading dock at Thurrock. Both were investigated; dock "
                "edge markings have been renewed at all hubs and coupling training was repeated "
                "for 64 shunter drivers. Near-miss reporting rose to 311 reports, which we read "
                "as a sign of a healthier reporting culture rather than of more risk.")
    d.heading("6. Outlook for Q4")
    d.paragraph("Peak season volumes are forecast at 22.5 million parcels, 14% above the third "
                "quarter. Temporary staffing of 1,150 people has been contracted, and the "
                "Daventry sorter extension will be commissioned on 21 October. The main risks "
                "are driver availability in December and the capacity of the Glasgow hub, which "
                "will operate above 95% of its design capacity during the peak weeks.")
    d.bullets([
        "Commission the Daventry sorter extension by 21 October.",
        "Complete peak readiness reviews at all hubs by 1 November.",
        "Agree contingency linehaul capacity for Scotland with two additional carriers.",
        "Report the results of the bearing replacement programme in the Q4 report.",
    ])
    d.heading("7. Appendix: definitions")
    d.paragraph("On-time delivery is the share of parcels delivered on or before the promised "
                "day. Cost per parcel is total operating cost divided by parcels handled, "
                "excluding depreciation. A lost-time injury is an injury that keeps an employee "
                "from work for at least one full shift after the day of the incident.")
    d.heading("8. Appendix: monthly figures")
    d.table([("Month", 70, "l"), ("Hub", 90, "l"), ("Parcels", 85, "r"), ("On time", 70, "r"),
             ("Cost/parcel", 80, "r"), ("Injuries", 72, "r")], [
        ["Jul 2024", "Daventry", "2,201,300", "96.2%", "1.91", "0"],
        ["Jul 2024", "Warrington", "1,452,100", "97.4%", "1.80", "0"],
        ["Jul 2024", "Bristol", "968,400", "97.0%", "1.86", "1"],
        ["Jul 2024", "Glasgow", "712,600", "97.9%", "1.95", "0"],
        ["Jul 2024", "Thurrock", "611,800", "96.3%", "1.84", "0"],
        ["Aug 2024", "Daventry", "2,318,900", "92.7%", "1.94", "0"],
        ["Aug 2024", "Warrington", "1,461,000", "97.3%", "1.79", "0"],
        ["Aug 2024", "Bristol", "979,200", "96.8%", "1.85", "0"],
        ["Aug 2024", "Glasgow", "721,900", "98.0%", "1.94", "0"],
        ["Aug 2024", "Thurrock", "640,150", "96.1%", "1.83", "1"],
        ["Sep 2024", "Daventry", "2,459,950", "96.4%", "1.88", "0"],
        ["Sep 2024", "Warrington", "1,489,500", "96.9%", "1.81", "0"],
        ["Sep 2024", "Bristol", "994,200", "96.9%", "1.84", "0"],
        ["Sep 2024", "Glasgow", "733,700", "97.5%", "2.02", "0"],
        ["Sep 2024", "Thurrock", "675,500", "95.7%", "1.82", "0"],
    ])
    d.heading("9. Appendix: customer feedback")
    d.paragraph("The quarterly survey of 412 business customers returned a net promoter score of "
                "+41, up from +36. Customers praised the new delivery time windows and the "
                "tracking notifications; the most frequent criticism concerned the handling of "
                "failed deliveries to business addresses closed at lunchtime. A pilot of "
                "afternoon-only delivery slots for such addresses starts in Bristol in November.")
    d.paragraph("Complaints fell to 5,710 from 6,152. The share of complaints resolved at the first "
                "contact rose to 78%. Claims for damaged goods totalled GBP 212,400, of which "
                "GBP 61,000 related to a single consignment of glassware damaged at Thurrock on "
                "2 September; packaging guidance has been sent to the customer concerned.")
    d.paragraph("Prepared by the Network Operations team, 8 October 2024. Figures for September "
                "are provisional until the month-end close on 18 October.")
    return d


def minutes():
    d = Document("Minutes of the Board Meeting, 17 April 2024", "Greenacre Community Housing Association - Board minutes 17 April 2024")
    d.title_block("Minutes of the Board Meeting", "Greenacre Community Housing Association - 17 April 2024, 18:00, Board Room, 5 Mill Lane")
    d.fields([("Present", "J. Whitaker (Chair), A. Mensah, R. Doyle, L. Kowalski, S. Iqbal, M. Byrne"),
              ("In attendance", "K. Lindqvist (Chief Executive), P. Osei (Finance Director)"),
              ("Minutes", "H. Carter (Company Secretary)"),
              ("Apologies", "D. Fernandes")], label_width=95)
    items = [
        ("1. Welcome and declarations of interest",
         ["The Chair welcomed members and opened the meeting at 18:02. R. Doyle declared an "
          "interest in item 6 as a director of a contractor on the approved list and took no "
          "part in that item."]),
        ("2. Minutes of the meeting of 21 February 2024",
         ["The minutes were approved as a correct record, subject to correcting the number of "
          "void properties in item 4 from 37 to 31. There were no matters arising not covered "
          "elsewhere on the agenda."]),
        ("3. Chief Executive's report",
         ["K. Lindqvist reported that the association now manages 2,418 homes. Rent collection "
          "stood at 99.1% of the amount due for the year to 31 March. Average re-let time fell "
          "to 24 days from 31 days a year ago, helped by the new voids contract.",
          "The regulator's consumer standards came into force on 1 April. A self-assessment "
          "against the standards will be brought to the June meeting. Members asked for the "
          "assessment to cover damp and mould cases in detail."]),
        ("4. Finance report and draft budget 2024/25",
         ["P. Osei presented the management accounts to 31 March, showing an operating surplus "
          "of GBP 3.42 million against a budget of GBP 3.10 million, mainly due to lower "
          "interest costs. The draft budget for 2024/25 assumes a rent increase of 7.7%, "
          "repairs spending of GBP 9.8 million and a surplus of GBP 2.65 million.",
          "Members discussed the effect of the rent increase on tenants in arrears. The Board "
          "asked that the hardship fund be increased from GBP 60,000 to GBP 90,000."]),
        ("5. Damp and mould action plan",
         ["The Board reviewed progress: 412 homes surveyed since January, 96 cases requiring "
          "works, 71 completed. The average time from report to first inspection is 6 working "
          "days against a target of 5. The Board asked for monthly updates until the target is met."]),
        ("6. Approval of the kitchen and bathroom programme",
         ["The Board considered the tender report for the 2024/25 programme covering 180 "
          "kitchens and 140 bathrooms. Three bids were received; the recommended contractor "
          "scored highest on quality and price. R. Doyle left the room for this item."]),
        ("7. Risk register",
         ["The top risks remain building safety, cost inflation in repairs, and the capacity of "
          "the repairs contractor. A new risk on data protection was added after the cyber "
          "incident at a neighbouring association in March."]),
        ("8. Any other business",
         ["S. Iqbal reported on the tenants' panel meeting of 9 April, which asked for clearer "
          "information on service charges. The Chief Executive will bring a proposal in June.",
          "The meeting closed at 20:14. Next meeting: 19 June 2024 at 18:00."]),
    ]
    decisions = {
        "4. Finance report and draft budget 2024/25":
            "Resolved: the budget for 2024/25 was approved, with the hardship fund increased to GBP 90,000.",
        "6. Approval of the kitchen and bathroom programme":
            "Resolved: the contract was awarded to Castleford Building Services Ltd. for GBP 2,318,400.",
    }
    for title, paragraphs in items:
        d.heading(title, 11.5)
        for p in paragraphs:
            d.paragraph(p)
        if title in decisions:
            d.paragraph(decisions[title], bold=True)
    d.heading("Actions", 11.5)
    d.table([("No.", 34, "l"), ("Action", 283, "l"), ("Owner", 80, "l"), ("Due", 70, "l")], [
        ["A1", "Correct the void count in the February minutes", "H. Carter", "24 Apr 2024"],
        ["A2", "Consumer standards self-assessment incl. damp cases", "K. Lindqvist", "19 Jun 2024"],
        ["A3", "Increase the hardship fund to GBP 90,000", "P. Osei", "1 May 2024"],
        ["A4", "Monthly damp and mould update to members", "K. Lindqvist", "Monthly"],
        ["A5", "Issue the contract award letter", "P. Osei", "26 Apr 2024"],
        ["A6", "Proposal on service charge information", "K. Lindqvist", "19 Jun 2024"],
    ])
    d.signature("J. Whitaker", "Chair, approved at the meeting of 19 June 2024")
    return d


def lab_report():
    d = Document("Water Quality Test Report WQ-24-0893", "Severn Analytical Laboratories - Report WQ-24-0893 - UKAS testing laboratory No. 4172")
    d.title_block("Water Quality Test Report", "Severn Analytical Laboratories - Report WQ-24-0893")
    d.fields([("Client", "Upton Hall Farm, Upton-upon-Severn, Worcester WR8 0PB"),
              ("Sample", "Private borehole supply, kitchen tap after softener bypass"),
              ("Sampled", "22 July 2024, 09:40, by M. Grant (laboratory sampler)"),
              ("Received", "22 July 2024, 13:05, cool box at 6 C"),
              ("Analysed", "22 to 26 July 2024"),
              ("Report date", "29 July 2024")], label_width=100)
    d.heading("Results: chemical parameters", 11.5)
    d.table([("Parameter", 150, "l"), ("Result", 70, "r"), ("Unit", 70, "l"), ("Limit", 70, "r"),
             ("Method", 107, "l")], [
        ["pH", "7.4", "pH units", "6.5-9.5", "SAL-W-001"],
        ["Conductivity at 20 C", "612", "uS/cm", "2500", "SAL-W-002"],
        ["Nitrate as NO3", "38.6", "mg/l", "50", "SAL-W-014"],
        ["Nitrite as NO2", "<0.02", "mg/l", "0.5", "SAL-W-014"],
        ["Ammonium as NH4", "0.04", "mg/l", "0.5", "SAL-W-015"],
        ["Chloride", "41", "mg/l", "250", "SAL-W-020"],
        ["Sulphate", "58", "mg/l", "250", "SAL-W-020"],
        ["Fluoride", "0.21", "mg/l", "1.5", "SAL-W-021"],
        ["Total hardness as CaCO3", "298", "mg/l", "-", "SAL-W-030"],
        ["Iron", "182", "ug/l", "200", "SAL-W-041"],
        ["Manganese", "64", "ug/l", "50", "SAL-W-041"],
        ["Lead", "1.3", "ug/l", "10", "SAL-W-042"],
        ["Copper", "0.08", "mg/l", "2.0", "SAL-W-042"],
        ["Arsenic", "2.1", "ug/l", "10", "SAL-W-042"],
        ["Turbidity", "0.9", "NTU", "4", "SAL-W-050"],
    ])
    d.heading("Results: microbiological parameters", 11.5)
    d.table([("Parameter", 150, "l"), ("Result", 70, "r"), ("Unit", 70, "l"), ("Limit", 70, "r"),
             ("Method", 107, "l")], [
        ["Escherichia coli", "0", "cfu/100 ml", "0", "SAL-M-003"],
        ["Enterococci", "0", "cfu/100 ml", "0", "SAL-M-004"],
        ["Coliform bacteria", "3", "cfu/100 ml", "0", "SAL-M-003"],
        ["Colony count 22 C", "48", "cfu/ml", "no abnormal change", "SAL-M-010"],
        ["Clostridium perfringens", "0", "cfu/100 ml", "0", "SAL-M-006"],
    ])
    d.heading("Interpretation", 11.5)
    d.paragraph("Limits are those of the Private Water Supplies (England) Regulations 2016. The "
                "sample did not comply for two parameters: manganese (64 ug/l against 50 ug/l) and "
                "coliform bacteria (3 cfu/100 ml against 0). E. coli and enterococci were not "
                "detected, so there is no evidence of faecal contamination at the time of sampling.")
    d.paragraph("Coliform bacteria without E. coli usually indicate ingress of surface water or "
                "growth in the distribution pipework. Manganese at this level is not a health "
                "concern but causes black staining and taste complaints; it is typical of "
                "boreholes in the Mercia Mudstone of this area. Nitrate at 38.6 mg/l is below the "
                "limit but high enough to warrant a repeat sample after the autumn application of "
                "fertiliser to the neighbouring fields.")
    d.heading("Recommendations", 11.5)
    d.bullets([
        "Inspect the borehole headworks and the seal of the borehole cap; make sure surface "
        "water cannot pond around the head.",
        "Disinfect the storage tank and pipework, then resample for coliforms within four weeks.",
        "Consider manganese removal (oxidation and filtration) if staining is a nuisance.",
        "Resample nitrate in November 2024.",
        "Inform Malvern Hills District Council, which regulates this supply, of the coliform "
        "failure as required by regulation 17.",
    ])
    d.heading("Quality notes", 11.5)
    d.paragraph("Results relate only to the sample tested. Uncertainties of measurement are "
                "available on request. The sample was received within the holding times of all "
                "methods. Methods marked SAL are accredited to ISO/IEC 17025:2017 except the colony "
                "count at 22 C. This report shall not be reproduced except in full without the "
                "written approval of the laboratory.")
    d.signature("Dr. Helen Marsh", "Technical Manager, authorised signatory")
    d.new_page()
    d.heading("Annex A - Sampling record", 11.5)
    d.fields([("Sampling point", "Kitchen cold tap, softener bypass valve open"),
              ("Tap preparation", "Outlet fittings removed, tap flamed, run for 3 minutes"),
              ("Water temperature", "11.8 C at sampling"),
              ("Free chlorine", "Not detected (no disinfection on this supply)"),
              ("Weather", "Dry; 14 mm of rain in the previous 48 hours"),
              ("Borehole depth", "62 m, cased to 18 m (owner's records)"),
              ("Treatment", "Ion-exchange softener, UV unit not fitted")], label_width=120)
    d.heading("Annex B - Previous results for this supply", 11.5)
    d.table([("Date", 80, "l"), ("Nitrate mg/l", 80, "r"), ("Manganese ug/l", 90, "r"),
             ("Coliforms /100 ml", 100, "r"), ("E. coli /100 ml", 117, "r")], [
        ["14 Mar 2022", "31.2", "58", "0", "0"],
        ["20 Sep 2022", "36.9", "61", "0", "0"],
        ["9 Mar 2023", "33.4", "55", "1", "0"],
        ["27 Sep 2023", "40.1", "66", "0", "0"],
        ["22 Jul 2024", "38.6", "64", "3", "0"],
    ], keep=True)
    d.paragraph("Nitrate has risen slowly since 2022 and is highest in the autumn samples. "
                "Manganese has been above the limit in every sample and is a feature of the "
                "source rather than a change. The coliform results of March 2023 and July 2024 "
                "are the only microbiological failures in the record.")
    return d


def datasheet():
    d = Document("Datasheet - CentraFlow X200 circulating pump", "Aquadyne Pumps GmbH - CentraFlow X200 datasheet - Rev. C, 2024-02")
    d.title_block("CentraFlow X200", "Wet-rotor circulating pump for heating and cooling systems - Datasheet Rev. C")
    d.heading("Description", 11.5)
    d.paragraph("The CentraFlow X200 is a high-efficiency circulating pump with an electronically "
                "commutated permanent-magnet motor for hot water heating, cooling and closed "
                "industrial circuits. Proportional and constant pressure control, an automatic "
                "night setback and a dry-run protection are built in. The pump meets the "
                "ecodesign requirements of Regulation (EC) No 641/2009 with an energy efficiency "
                "index EEI of 0.19 or better.")
    d.heading("Technical data", 11.5)
    d.table([("Characteristic", 190, "l"), ("X200-40", 92, "r"), ("X200-60", 92, "r"), ("X200-80", 93, "r")], [
        ["Maximum flow (m3/h)", "3.2", "4.1", "5.0"],
        ["Maximum head (m)", "4.0", "6.0", "8.0"],
        ["Power input (W)", "4-25", "4-45", "5-70"],
        ["Current at 230 V (A)", "0.04-0.22", "0.04-0.39", "0.05-0.58"],
        ["EEI", "0.17", "0.18", "0.19"],
        ["Port to port length (mm)", "180", "180", "180"],
        ["Connection", "G 1 1/2", "G 1 1/2", "G 2"],
        ["Weight (kg)", "1.9", "2.0", "2.3"],
        ["Sound pressure level dB(A)", "<34", "<36", "<38"],
    ])
    d.heading("Operating conditions", 11.5)
    d.fields([("Fluid temperature", "-10 C to +110 C"),
              ("Ambient temperature", "0 C to +40 C"),
              ("Maximum system pressure", "10 bar (PN 10)"),
              ("Minimum inlet pressure", "0.05 bar at 50 C, 0.3 bar at 95 C, 1.1 bar at 110 C"),
              ("Pumped fluids", "Heating water to VDI 2035, water-glycol mixtures up to 50%"),
              ("Protection class", "IPX4D, insulation class F")], label_width=160)
    d.heading("Control modes", 11.5)
    d.bullets([
        "Proportional pressure (PP1 to PP3): the head falls with the flow; for two-pipe heating "
        "systems with thermostatic valves.",
        "Constant pressure (CP1 to CP3): the head stays constant; for underfloor heating and "
        "one-pipe systems.",
        "Constant speed (I to III): for systems with fixed resistance or for venting.",
        "External control by PWM signal (profile A for heating, profile C for solar).",
    ])
    d.heading("Installation", 11.5)
    d.paragraph("Install the pump with the motor shaft horizontal. Flush the system before "
                "installation and do not run the pump dry. Provide isolating valves on both "
                "sides. The pump housing must not carry the weight of the pipework. Electrical "
                "connection must be made by a qualified person in accordance with local "
                "regulations; the pump requires no external motor protection.")
    d.heading("Ordering information", 11.5)
    d.table([("Model", 120, "l"), ("Article no.", 110, "l"), ("Housing", 137, "l"), ("Packing", 100, "r")], [
        ["X200-40", "98 402 110", "Cast iron", "1"],
        ["X200-60", "98 402 120", "Cast iron", "1"],
        ["X200-80", "98 402 130", "Cast iron", "1"],
        ["X200-60 N", "98 402 220", "Stainless steel", "1"],
        ["Insulation shell", "98 409 001", "EPP", "10"],
    ])
    d.paragraph("Aquadyne Pumps GmbH, Industriestrasse 12, 44147 Dortmund, Germany. Subject to "
                "technical changes. Rev. C supersedes Rev. B of March 2023.", size=9.5)
    return d


def agreement():
    d = Document("Software Support Services Agreement", "Software Support Services Agreement - Calderbank Systems Ltd. / Meridian Travel Group - Confidential")
    d.title_block("Software Support Services Agreement", "Agreement No. CS-2024-031, dated 5 August 2024")
    d.paragraph("This agreement is made between Calderbank Systems Ltd., a company registered in "
                "England under number 08123457 whose registered office is at 9 Wharf Street, "
                "Manchester M1 2HF (the Supplier), and Meridian Travel Group Ltd., company number "
                "05561234, of 120 Bishopsgate, London EC2N 4AG (the Customer).")
    clauses = [
        ("1. Definitions",
         ["1.1 Software means the Meridian booking platform as customised by the Supplier, "
          "including its interfaces to the airline and hotel distribution systems listed in "
          "Schedule 1.",
          "1.2 Business Hours means 08:00 to 18:00 UK time on working days in England.",
          "1.3 Incident means any failure of the Software to perform materially in accordance "
          "with its documentation. Severity levels are defined in clause 4."]),
        ("2. Term",
         ["2.1 This agreement starts on 1 September 2024 and continues for an initial term of "
          "24 months. It then renews for successive periods of 12 months unless either party "
          "gives at least 90 days' written notice before the end of the current period."]),
        ("3. Services",
         ["3.1 The Supplier shall provide second and third line support for the Software, "
          "corrective maintenance, security patches, and updates required by changes to the "
          "interfaces listed in Schedule 1.",
          "3.2 The Supplier shall provide a service desk reachable by telephone and through the "
          "support portal during Business Hours, and by telephone for Severity 1 incidents at "
          "all times.",
          "3.3 Enhancements and new functionality are outside the scope of this agreement and "
          "will be quoted separately under the rate card in Schedule 3."]),
        ("4. Service levels",
         ["4.1 The Supplier shall respond to and resolve incidents within the times below. "
          "Times are measured from the logging of the incident on the support portal."]),
    ]
    for title, paragraphs in clauses:
        d.heading(title, 11.5)
        for p in paragraphs:
            d.paragraph(p)
    d.table([("Severity", 70, "l"), ("Meaning", 187, "l"), ("Response", 100, "l"), ("Resolution", 110, "l")], [
        ["1", "Bookings cannot be made", "30 minutes, 24x7", "4 hours"],
        ["2", "Major function impaired", "2 Business Hours", "1 working day"],
        ["3", "Minor function impaired", "1 working day", "5 working days"],
        ["4", "Question or cosmetic issue", "2 working days", "Next release"],
    ])
    more = [
        ("5. Service credits",
         ["5.1 If monthly availability of the production booking service falls below 99.8%, the "
          "Customer is entitled to a service credit of 5% of the monthly charge for each 0.1% "
          "below that level, up to 50% of the monthly charge.",
          "5.2 Service credits are the Customer's sole financial remedy for failure to meet the "
          "service levels, except where the failure amounts to a material breach."]),
        ("6. Charges and payment",
         ["6.1 The Customer shall pay a fixed charge of GBP 18,500 per month, exclusive of VAT, "
          "invoiced monthly in advance. The charge covers up to 160 hours of support effort per "
          "month; further hours are charged at GBP 105 per hour.",
          "6.2 Invoices are payable within 30 days. The Supplier may increase the charges once a "
          "year from 1 September 2025 by no more than the increase in the Consumer Prices Index "
          "over the preceding 12 months."]),
        ("7. Data protection",
         ["7.1 The Supplier acts as processor of the personal data in the Software and shall "
          "process it only on the Customer's documented instructions, as set out in the data "
          "processing schedule (Schedule 4)."]),
        ("8. Liability",
         ["8.1 Each party's total liability under this agreement in any contract year is limited "
          "to 150% of the charges paid or payable in that year. Nothing limits liability for "
          "death or personal injury caused by negligence, or for fraud."]),
        ("9. Termination",
         ["9.1 Either party may terminate this agreement with immediate effect by written notice "
          "if the other party commits a material breach which is not remedied within 30 days of "
          "notice requiring it to be remedied.",
          "9.2 On termination the Supplier shall provide reasonable assistance for the transfer "
          "of support to the Customer or a new supplier for up to three months, at the rates in "
          "Schedule 3."]),
        ("10. Governing law",
         ["10.1 This agreement is governed by the law of England and Wales, and the courts of "
          "England have exclusive jurisdiction."]),
    ]
    for title, paragraphs in more:
        d.heading(title, 11.5)
        for p in paragraphs:
            d.paragraph(p)
    d.paragraph("Signed for and on behalf of the parties:")
    d.signature("Andrew Calder", "Director, Calderbank Systems Ltd.")
    d.signature("Fiona Reyes", "Chief Technology Officer, Meridian Travel Group Ltd.")
    d.new_page()
    d.heading("Schedule 1 - Interfaces in scope", 11.5)
    d.table([("Interface", 150, "l"), ("Counterparty", 160, "l"), ("Protocol", 157, "l")], [
        ["Air shopping and booking", "Amadeus GDS", "SOAP over HTTPS"],
        ["NDC offers", "Three airlines (Schedule 1A)", "NDC 21.3, REST"],
        ["Hotel availability", "Hotelbeds", "REST, JSON"],
        ["Payments", "Adyen", "REST, webhooks"],
        ["Accounting export", "Customer's SAP S/4HANA", "SFTP, nightly CSV"],
        ["Identity", "Customer's Azure AD", "OpenID Connect"],
    ], keep=True)
    d.heading("Schedule 3 - Rate card", 11.5)
    d.table([("Role", 200, "l"), ("Day rate GBP", 120, "r"), ("Hourly rate GBP", 147, "r")], [
        ["Support engineer", "780", "105"],
        ["Senior developer", "920", "123"],
        ["Solution architect", "1,150", "154"],
        ["Project manager", "880", "118"],
        ["Out-of-hours call-out (per event)", "-", "350"],
    ], keep=True)
    d.paragraph("Rates exclude VAT and reasonable travel expenses, which are charged at cost "
                "when the Customer asks for work at its premises. Work outside Business Hours, "
                "other than Severity 1 incidents, is charged at 150% of the hourly rate.")
    return d


SAMPLES = {
    "invoice-northwind-INV-2024-0117.pdf": invoice,
    "letter-lease-renewal-kingsway-unit4.pdf": letter,
    "report-brightwater-q3-2024.pdf": report,
    "minutes-greenacre-board-2024-04-17.pdf": minutes,
    "lab-report-water-quality-WQ-24-0893.pdf": lab_report,
    "datasheet-centraflow-x200.pdf": datasheet,
    "agreement-calderbank-support-services.pdf": agreement,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                        help="folder to write to (default: examples/)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the files in --out instead of writing")
    args = parser.parse_args()
    differ = 0
    for name, build in SAMPLES.items():
        doc = build()
        data = doc.render()
        path = os.path.join(args.out, name)
        if args.check:
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except OSError:
                same = False
            if not same:
                print("differs: %s" % path)
                differ += 1
            continue
        with open(path, "wb") as f:
            f.write(data)
        print("%s: %d pages, %d bytes" % (path, len(doc.pages), len(data)))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Deterministic benchmark inputs, standard library only.

  make_corpus.py pdfs   --out DIR --count N --size BYTES [--pages 3] [--seed 1]
                        [--spread]
      N valid PDFs of exactly BYTES bytes each (doc-000001.pdf, ...). Each has
      a text layer of PAGES pages (what the emulator transcribes) and one
      unreferenced stream of pseudo-random bytes that brings it to the size:
      real scanned or image-heavy PDFs are mostly compressed, high-entropy data,
      which is what base64 and the JSON writer then see. With --spread the
      bytes are one image per page instead (referenced by the page, about
      BYTES in all), so that a page range written by qpdf carries its share.

  make_corpus.py output --out FILE --count N [--pages 3] [--page_chars 2000]
                        [--model gpt-4.1-mini] [--seed 1]
      An OpenAI batch output file (openai-batch-api.md section 5, success lines)
      with N lines whose custom_id is doc-000001.. and whose content is a
      transcript of the shipped schema (title, language, pages[{page,text}]).

The same arguments always produce the same bytes.
"""

import argparse
import json
import os
import random
import sys

WORDS = (
    "invoice total amount due payment terms net thirty days account number "
    "customer reference order quantity description unit price tax subtotal "
    "delivery address shipping date page report summary analysis results "
    "section chapter figure table appendix contract agreement party clause "
    "signature witness schedule annex revision approved reviewed draft final"
).split()


def page_lines(rng, doc_index, page, lines=12, words_per_line=9):
    out = ["Document %06d page %d" % (doc_index, page)]
    for _ in range(lines - 1):
        out.append(" ".join(rng.choice(WORDS) for _ in range(words_per_line)))
    return out


def pdf_string(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_content(rng, doc_index, page):
    """The content stream object of one page: a few lines of text in Helvetica."""
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
    for line in page_lines(rng, doc_index, page):
        ops.append("(%s) Tj T*" % pdf_string(line))
    ops.append("ET")
    stream = "\n".join(ops).encode()
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)


def write_objects(objects):
    """A PDF file of numbered objects (1 = catalog) with its xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n in sorted(objects):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + objects[n] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def build_spread_pdf(doc_index, size, pages, seed, per_page=None):
    """About `size` bytes: per page a text layer and an image of random bytes."""
    if per_page is None:
        # Measure the text layer and object overhead once, then fill up.
        base = len(build_spread_pdf(doc_index, 0, pages, seed, per_page=1))
        return build_spread_pdf(doc_index, size, pages, seed,
                                per_page=max(1, 1 + (size - base) // pages))
    rng = random.Random(seed * 1_000_003 + doc_index)
    objects = {}
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    kids = " ".join("%d 0 R" % (4 + 3 * i) for i in range(pages))
    objects[2] = ("<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages)).encode()
    objects[3] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    for i in range(pages):
        page_obj, content_obj, image_obj = 4 + 3 * i, 5 + 3 * i, 6 + 3 * i
        objects[page_obj] = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            "/Resources << /Font << /F1 3 0 R >> /XObject << /Im0 %d 0 R >> >> >>"
            % (content_obj, image_obj)
        ).encode()
        objects[content_obj] = text_content(rng, doc_index, i + 1)
        objects[image_obj] = (
            b"<< /Type /XObject /Subtype /Image /Width %d /Height 1 /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n%s\nendstream"
            % (per_page, per_page, rng.randbytes(per_page))
        )
    return write_objects(objects)


def build_pdf(doc_index, size, pages, seed):
    """Returns the bytes of one PDF of exactly `size` bytes (when possible)."""
    rng = random.Random(seed * 1_000_003 + doc_index)
    page_count = pages
    # Objects: 1 catalog, 2 pages, 3 font, then per page (page, contents), then padding.
    objects = {}
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    kids = " ".join("%d 0 R" % (4 + 2 * i) for i in range(page_count))
    objects[2] = ("<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, page_count)).encode()
    objects[3] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    for i in range(page_count):
        page_obj, content_obj = 4 + 2 * i, 5 + 2 * i
        objects[page_obj] = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>" % content_obj
        ).encode()
        objects[content_obj] = text_content(rng, doc_index, i + 1)
    pad_obj = 4 + 2 * page_count

    def assemble(pad_bytes):
        objs = dict(objects)
        objs[pad_obj] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(pad_bytes), pad_bytes)
        return write_objects(objs)

    base = len(assemble(b""))
    pad = max(0, size - base)
    data = assemble(rng.randbytes(pad))
    # The /Length digits grow with the padding: trim the difference.
    if len(data) != size and pad > 0:
        pad = max(0, pad - (len(data) - size))
        data = assemble(rng.randbytes(pad))
    return data


def cmd_pdfs(args):
    os.makedirs(args.out, exist_ok=True)
    for i in range(1, args.count + 1):
        path = os.path.join(args.out, "doc-%06d.pdf" % i)
        if args.spread:
            data = build_spread_pdf(i, args.size, args.pages, args.seed)
        else:
            data = build_pdf(i, args.size, args.pages, args.seed)
        with open(path, "wb") as f:
            f.write(data)


def transcript(rng, doc_index, pages, page_chars):
    out_pages = []
    for p in range(1, pages + 1):
        words = []
        length = 0
        while length < page_chars:
            w = rng.choice(WORDS)
            words.append(w)
            length += len(w) + 1
        # Paragraph breaks and quotes exercise JSON escaping the way real text does.
        text = " ".join(words)
        text = text[: page_chars // 2] + '.\n\n"' + text[page_chars // 2 :] + '"'
        out_pages.append({"page": p, "text": text})
    return {"title": "Document %06d" % doc_index, "language": "en", "pages": out_pages}


def cmd_output(args):
    rng = random.Random(args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        for i in range(1, args.count + 1):
            content = json.dumps(transcript(rng, i, args.pages, args.page_chars))
            line = {
                "id": "batch_req_%032x" % rng.getrandbits(128),
                "custom_id": "doc-%06d" % i,
                "response": {
                    "status_code": 200,
                    "request_id": "req_%032x" % rng.getrandbits(128),
                    "body": {
                        "id": "chatcmpl-%024x" % rng.getrandbits(96),
                        "object": "chat.completion",
                        "created": 1711652795,
                        "model": args.model + "-2025-04-14",
                        "choices": [
                            {
                                "index": 0,
                                "message": {
                                    "role": "assistant",
                                    "content": content,
                                    "refusal": None,
                                },
                                "logprobs": None,
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 1500 + i % 500,
                            "completion_tokens": 1400 + i % 300,
                            "total_tokens": 2900 + i % 500 + i % 300,
                            "prompt_tokens_details": {"cached_tokens": 0},
                        },
                        "system_fingerprint": "fp_bench",
                    },
                },
                "error": None,
            }
            f.write(json.dumps(line, separators=(",", ":")) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pdfs")
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--pages", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--spread", action="store_true")
    o = sub.add_parser("output")
    o.add_argument("--out", required=True)
    o.add_argument("--count", type=int, required=True)
    o.add_argument("--pages", type=int, default=3)
    o.add_argument("--page_chars", type=int, default=2000)
    o.add_argument("--model", default="gpt-4.1-mini")
    o.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    {"pdfs": cmd_pdfs, "output": cmd_output}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

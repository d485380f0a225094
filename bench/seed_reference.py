#!/usr/bin/python3
"""The seed's approach in straightforward Python (standard library only): the
baseline every batchscribe benchmark is compared with.

  seed_reference.py prepare --input DIR --out FILE [--model M] [--max_completion_tokens N]
                            [--prompt_file F] [--schema_file F]
      Every *.pdf of DIR (sorted) -> one batch request line each, as the seed
      built them: read the whole file, base64.b64encode, json.dumps of the line.

  seed_reference.py retrieve --output FILE --storage DIR [--model M] [--durable]
      Every line of an OpenAI batch output file -> json.loads, check status 200
      and finish_reason stop, json.loads of the content (is it JSON?), then one
      transcript file per document: transcripts/<model>/<custom_id>.json.
      Without --durable the files are written the way the seed wrote them
      (open/write/close, no fsync). With --durable each is written to a
      temporary file, fsynced and renamed, and the folder is fsynced at the
      end: the same guarantee batchscribe gives.

Prints one JSON object with what it did (counts and bytes).
"""

import argparse
import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "config")


def prepare(args):
    with open(args.prompt_file, encoding="utf-8") as f:
        prompt = f.read().strip()
    with open(args.schema_file, encoding="utf-8") as f:
        schema = json.load(f)
    names = sorted(n for n in os.listdir(args.input) if n.endswith(".pdf"))
    lines = 0
    raw = 0
    written = 0
    with open(args.out, "w", encoding="utf-8") as out:
        for name in names:
            with open(os.path.join(args.input, name), "rb") as f:
                data = f.read()
            raw += len(data)
            line = {
                "custom_id": name[:-4],
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": args.model,
                    "max_completion_tokens": args.max_completion_tokens,
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": prompt},
                                {
                                    "type": "file",
                                    "file": {
                                        "filename": name,
                                        "file_data": "data:application/pdf;base64,"
                                        + base64.b64encode(data).decode("ascii"),
                                    },
                                },
                            ],
                        }
                    ],
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": "transcript", "strict": True, "schema": schema},
                    },
                },
            }
            text = json.dumps(line) + "\n"
            out.write(text)
            written += len(text)
            lines += 1
    return {"lines": lines, "raw_bytes": raw, "output_bytes": written}


def write_plain(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_durable(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def retrieve(args):
    folder = os.path.join(args.storage, "transcripts", args.model)
    os.makedirs(folder, exist_ok=True)
    write = write_durable if args.durable else write_plain
    ok = failed = 0
    with open(args.output, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            obj = json.loads(line)
            response = obj.get("response") or {}
            body = response.get("body") or {}
            choices = body.get("choices") or []
            if obj.get("error") or response.get("status_code") != 200 or not choices:
                failed += 1
                continue
            choice = choices[0]
            content = (choice.get("message") or {}).get("content")
            if choice.get("finish_reason") != "stop" or content is None:
                failed += 1
                continue
            try:
                json.loads(content)
            except ValueError:
                failed += 1
                continue
            write(os.path.join(folder, obj["custom_id"] + ".json"), content)
            ok += 1
    if args.durable:
        fd = os.open(folder, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    return {"lines": ok + failed, "succeeded": ok, "failed": failed}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="gpt-4.1-mini")
    p.add_argument("--max_completion_tokens", type=int, default=16000)
    p.add_argument("--prompt_file", default=os.path.join(CONFIG, "transcript.prompt.txt"))
    p.add_argument("--schema_file", default=os.path.join(CONFIG, "transcript.schema.json"))
    r = sub.add_parser("retrieve")
    r.add_argument("--output", required=True)
    r.add_argument("--storage", required=True)
    r.add_argument("--model", default="gpt-4.1-mini")
    r.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    result = {"prepare": prepare, "retrieve": retrieve}[args.command](args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Validates openai-emulator responses against the official OpenAI schemas.

usage: validate_against_spec.py OPENAPI_YAML BATCH_LINES_YAML SAMPLES_JSON

SAMPLES_JSON maps a schema name of components.schemas (openapi.yaml, or
batch-line-schemas.yaml for BatchRequestOutput) to a list of instances, and
"_must_fail" to the same kind of map of instances that must NOT validate (so
this check cannot pass vacuously). The components are turned into one JSON
Schema (draft 2020-12): #/components/schemas/X becomes #/$defs/X, OpenAPI 3.0
`nullable: true` becomes a null alternative, and, because OpenAI returns null
for fields the spec leaves non-nullable (the spec copy's README says to treat
absent and null alike), every object property also accepts null.
"""
import json
import sys

import yaml
from jsonschema import Draft202012Validator

PREFIX = "#/components/schemas/"


def with_null(schema):
    return {"anyOf": [schema, {"type": "null"}]}


def convert(node):
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(PREFIX):
            out[key] = "#/$defs/" + value[len(PREFIX):]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: with_null(convert(sub)) for name, sub in value.items()}
        elif key == "nullable":
            continue
        else:
            out[key] = convert(value)
    if node.get("nullable") is True:
        return with_null(out)
    return out


def load_components(path):
    with open(path, encoding="utf-8") as f:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        spec = yaml.load(f, Loader=loader)
    return spec["components"]["schemas"]


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    components = load_components(sys.argv[1])
    components.update(load_components(sys.argv[2]))
    defs = {name: convert(schema) for name, schema in components.items()}
    with open(sys.argv[3], encoding="utf-8") as f:
        samples = json.load(f)

    def validator(name):
        if name not in defs:
            raise SystemExit(f"unknown schema {name}")
        return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": defs})

    failures = 0
    checked = 0
    for name, instances in samples.items():
        if name == "_must_fail":
            continue
        v = validator(name)
        for i, instance in enumerate(instances):
            checked += 1
            errors = sorted(v.iter_errors(instance), key=lambda e: list(e.path))
            for error in errors[:5]:
                failures += 1
                path = "/".join(str(p) for p in error.path)
                print(f"{name}[{i}] at '{path}': {error.message[:300]}")
    for name, instances in samples.get("_must_fail", {}).items():
        v = validator(name)
        for i, instance in enumerate(instances):
            checked += 1
            if v.is_valid(instance):
                failures += 1
                print(f"{name} negative sample {i} unexpectedly validated: {json.dumps(instance)}")
    print(f"validated {checked} samples, {failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

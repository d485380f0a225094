"""Shared helpers of the deploy tests: rendering, compose config, binaries' --help.

Every check collects its problems in a Checker and exits non-zero with one line
per problem, so a failing ctest run says exactly what drifted.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

# The binaries the image ships and the manifests run (docs/CONTRACTS.md).
BINARIES = ["batchscribe-coordinator", "batchscribe-worker", "openai-emulator", "batchscribe"]
OVERLAYS = ["dev", "prod"]
# Secrets the prod overlay expects to exist (created out of band, README.md).
EXTERNAL_SECRETS = {
    "batchscribe-database": ["url"],
    "batchscribe-openai": ["api-key"],
    "batchscribe-auth": ["tokens"],
}


class Checker:
    """Collects problems; `done()` prints them and exits 1 if there are any."""

    def __init__(self, name):
        self.name = name
        self.problems = []
        self.checks = 0

    def check(self, condition, message):
        self.checks += 1
        if not condition:
            self.problems.append(message)
        return condition

    def fail(self, message):
        self.check(False, message)

    def done(self):
        for p in self.problems:
            print(f"FAIL {self.name}: {p}")
        print(f"{self.name}: {self.checks - len(self.problems)} passed, "
              f"{len(self.problems)} failed")
        sys.exit(1 if self.problems else 0)


def fatal(name, message):
    print(f"FAIL {name}: {message}")
    sys.exit(1)


def source_dir():
    return os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(argv, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    return subprocess.run(argv, **kwargs)


# ---------------------------------------------------------------- kustomize


def kubectl_path(tools_dir):
    """The kubectl fetch_kubectl.py provided (or BATCHSCRIBE_KUBECTL)."""
    override = os.environ.get("BATCHSCRIBE_KUBECTL")
    return override if override else os.path.join(tools_dir, "kubectl")


def normalize(obj):
    """What the API server does on decode that kustomize's YAML leaves implicit:
    Secret data is base64 that kustomize wraps over several lines, and the server's
    base64 decoder ignores the line breaks."""
    if obj.get("kind") == "Secret" and isinstance(obj.get("data"), dict):
        obj["data"] = {k: re.sub(r"\s", "", v) for k, v in obj["data"].items()}
    return obj


def render_overlay(name, kubectl, overlay_dir):
    """`kubectl kustomize overlay_dir` as a list of objects; fatal on error."""
    if not os.access(kubectl, os.X_OK):
        fatal(name, f"{kubectl} is missing: the deploy_kubectl fixture "
                    "(tests/deploy/fetch_kubectl.py) did not run or failed")
    r = run([kubectl, "kustomize", overlay_dir])
    if r.returncode != 0:
        fatal(name, f"kubectl kustomize {overlay_dir} failed:\n{r.stderr}")
    return [normalize(d) for d in yaml.safe_load_all(r.stdout) if d]


def pod_templates(objects):
    """(object, pod spec) for every workload object."""
    for obj in objects:
        kind = obj.get("kind")
        spec = obj.get("spec", {})
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            yield obj, spec.get("template", {}).get("spec", {})
        elif kind == "CronJob":
            yield obj, spec.get("jobTemplate", {}).get("spec", {}).get(
                "template", {}).get("spec", {})
        elif kind == "Pod":
            yield obj, spec


def find(objects, kind, name_prefix):
    """The one object of `kind` whose name is `name_prefix` or its generated
    (hash-suffixed) form."""
    for obj in objects:
        name = obj["metadata"]["name"]
        if obj["kind"] == kind and (name == name_prefix or
                                    re.fullmatch(re.escape(name_prefix) + r"-[a-z0-9]{10}", name)):
            return obj
    return None


# ---------------------------------------------------------------- compose


def compose_file():
    return os.path.join(source_dir(), "deploy", "docker", "docker-compose.yml")


def compose_config(name, env_file, quiet=False):
    """Runs Debian's docker-compose config on the compose file with exactly
    `env_file` as its .env and a clean environment (so the caller's shell cannot
    fill in variables). Returns (returncode, stdout+stderr, parsed config or None)."""
    exe = shutil.which("docker-compose")
    if not exe:
        fatal(name, "docker-compose is not installed (scripts/bootstrap.sh installs it)")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()}
    argv = [exe, "--env-file", env_file, "-f", compose_file(), "config"]
    if quiet:
        argv.append("-q")
    r = run(argv, env=env)
    parsed = yaml.safe_load(r.stdout) if r.returncode == 0 and not quiet else None
    return r.returncode, r.stdout + r.stderr, parsed


# ---------------------------------------------------------------- binaries

_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9_-]*)")
# CLI11 prints an option's environment fallback as "(Env:NAME)"; a variable read
# some other way is named in the help text as "$NAME" (the worker's
# "File holding the OpenAI API key (else $OPENAI_API_KEY)").
_ENV = re.compile(r"(?:\bEnv:\s*|\$)([A-Z][A-Z0-9_]*)\b")


def binary_path(bin_dir, binary):
    return os.path.join(bin_dir, binary)


def binary_interface(name, bin_dir, binary):
    """(flags, environment variables) that `binary --help` documents. Fatal, with a
    clear message, when the binary is not built."""
    path = binary_path(bin_dir, binary)
    if not os.access(path, os.X_OK):
        fatal(name, f"{path} is not built: build the binaries first "
                    "(cmake --build <build> --target " + " ".join(BINARIES) + ")")
    r = run([path, "--help"], timeout=60, env={"PATH": "/usr/bin:/bin"})
    text = r.stdout + r.stderr
    flags = set(_FLAG.findall(text))
    envs = set(_ENV.findall(text))
    if r.returncode != 0 or not flags:
        fatal(name, f"{path} --help exited {r.returncode} or named no flag:\n{text}")
    return flags, envs


def flags_in_args(args):
    """Flag names in an argv tail: --name, --name=value."""
    out = []
    for a in args:
        m = re.match(r"^--([a-z][a-z0-9_-]*)(=|$)", a)
        if m:
            out.append(m.group(1))
    return out


# Seconds the worker needs after its drain to hand back what is left and exit.
HAND_BACK_SECONDS = 15


def worker_drain_seconds(args, env):
    """The worker's --drain_seconds as the deploy file sets it (flag or
    BATCHSCRIBE_DRAIN_SECONDS), or None when it relies on the default."""
    for a in args:
        if a.startswith("--drain_seconds="):
            return int(a.split("=", 1)[1])
    if "--drain_seconds" in args:
        return int(args[args.index("--drain_seconds") + 1])
    value = env.get("BATCHSCRIBE_DRAIN_SECONDS")
    return int(value) if value is not None else None


def duration_seconds(text):
    """Compose durations: 90s, 1m30s, 2m, 1h."""
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(us|ms|s|m|h)", str(text)):
        total += float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)

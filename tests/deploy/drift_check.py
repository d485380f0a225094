#!/usr/bin/python3
"""Config cannot drift from code: every flag and environment variable that the
compose file and the rendered Kubernetes overlays pass to a batchscribe binary
must be one that binary accepts, as its `--help` (build/bin) documents.

  drift_check.py BIN_DIR TOOLS_DIR

Fails, naming the binary, when a binary is not built: the check never passes on
what it could not see.
"""

import os
import re
import shlex
import sys
import tempfile

import deploylib
from deploylib import BINARIES, Checker, find, pod_templates

# The image's user for our containers; any container of another image is not ours.
OUR_IMAGE = re.compile(r"(^|/)batchscribe(:[\w.-]+)?$")


def invocations_in_script(script):
    """(binary, args) for each line of a /bin/sh script that runs a binary."""
    out = []
    for line in script.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        for i, w in enumerate(words):
            if w in BINARIES:
                args = []
                for a in words[i + 1:]:
                    if a in (";", "&&", "||", "|"):
                        break
                    args.append(a)
                out.append((w, args))
    return out


class Usage:
    """What the deploy files pass to each binary, with where it was found."""

    def __init__(self):
        self.flags = []  # (binary, flag, where)
        self.envs = []  # (binary, name, where)
        self.runs = set()

    def invocation(self, binary, args, where):
        self.runs.add(binary)
        for flag in deploylib.flags_in_args(args):
            self.flags.append((binary, flag, where))

    def environment(self, binary, names, where):
        for name in names:
            self.envs.append((binary, name, where))


def collect_compose(c, usage, cfg, label):
    for name, svc in cfg.get("services", {}).items():
        if not OUR_IMAGE.search(str(svc.get("image", ""))):
            continue
        argv = []
        for key in ("entrypoint", "command"):
            v = svc.get(key)
            argv += v if isinstance(v, list) else (v.split() if v else [])
        where = f"compose ({label}) service {name}"
        if argv[:2] == ["/bin/sh", "-c"]:
            runs = invocations_in_script(argv[2].replace("$$", "$"))
        elif argv and argv[0] in BINARIES:
            runs = [(argv[0], argv[1:])]
        else:
            runs = []
        if not c.check(len(runs) == 1, f"{where}: runs {argv!r}, not one batchscribe binary"):
            continue
        binary, args = runs[0]
        usage.invocation(binary, args, where)
        usage.environment(binary, (svc.get("environment") or {}).keys(), where)
        test = svc.get("healthcheck", {}).get("test", [])
        if test[:1] == ["CMD"] and len(test) > 1:
            c.check(test[1] in BINARIES, f"{where}: healthcheck runs {test[1]}")
            usage.invocation(test[1], test[2:], f"{where} healthcheck")


def collect_k8s(c, usage, objects, overlay):
    for obj, pod in pod_templates(objects):
        for ctr in pod.get("initContainers", []) + pod.get("containers", []):
            if not OUR_IMAGE.search(ctr.get("image", "")):
                continue
            where = f"{overlay}: {obj['kind']}/{obj['metadata']['name']} container {ctr['name']}"
            argv = ctr.get("command", []) + ctr.get("args", [])
            if not c.check(argv and argv[0] in BINARIES,
                           f"{where}: must name its binary in command, has {argv!r}"):
                continue
            binary = argv[0]
            usage.invocation(binary, argv[1:], where)
            names = [e["name"] for e in ctr.get("env", [])]
            for src in ctr.get("envFrom", []):
                if "configMapRef" in src:
                    cm = find(objects, "ConfigMap", src["configMapRef"]["name"])
                    if c.check(cm is not None, f"{where}: ConfigMap {src['configMapRef']['name']}"):
                        names += list((cm.get("data") or {}).keys())
                else:
                    c.fail(f"{where}: envFrom {src} hides which variables reach {binary}")
            usage.environment(binary, names, where)
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                cmd = ctr.get(probe, {}).get("exec", {}).get("command", [])
                if cmd:
                    c.check(cmd[0] in BINARIES, f"{where}: {probe} runs {cmd[0]}")
                    usage.invocation(cmd[0], cmd[1:], f"{where} {probe}")


def main():
    if len(sys.argv) != 3:
        print("usage: drift_check.py BIN_DIR TOOLS_DIR")
        sys.exit(2)
    bin_dir, tools_dir = sys.argv[1:]
    c = Checker("drift")
    accepted = {b: deploylib.binary_interface("drift", bin_dir, b) for b in BINARIES}
    for b, (flags, envs) in sorted(accepted.items()):
        print(f"{b}: {len(flags)} flags, {len(envs)} environment variables in --help")

    usage = Usage()
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "absent.env")
        open(empty, "w").close()
        src = deploylib.source_dir()
        for label, env_file in (("no .env", empty),
                                (".env.example", os.path.join(src, "deploy", "docker", ".env.example"))):
            rc, out, cfg = deploylib.compose_config("drift", env_file)
            if c.check(rc == 0, f"docker-compose config ({label}) failed:\n{out}"):
                collect_compose(c, usage, cfg, label)
    kubectl = deploylib.kubectl_path(tools_dir)
    for overlay in deploylib.OVERLAYS:
        objects = deploylib.render_overlay(
            "drift", kubectl, os.path.join(src, "deploy", "k8s", "overlays", overlay))
        collect_k8s(c, usage, objects, overlay)

    for binary, flag, where in usage.flags:
        c.check(flag in accepted[binary][0],
                f"{where}: {binary} does not accept --{flag} (not in its --help)")
    for binary, name, where in usage.envs:
        c.check(name in accepted[binary][1],
                f"{where}: {binary} does not read environment variable {name} (not in its --help)")
    for binary in ("batchscribe-coordinator", "batchscribe-worker", "openai-emulator"):
        c.check(binary in usage.runs, f"no deploy file runs {binary}")
    print(f"drift: {len(usage.flags)} flag uses and {len(usage.envs)} environment uses checked")
    c.done()


if __name__ == "__main__":
    main()

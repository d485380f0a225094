#!/usr/bin/python3
"""The image's build stage sees only what its COPY lines copy: prove that is
enough. Copies exactly those paths of the source tree into an empty folder (as
the image's /src), configures CMake there as the Dockerfile does, and checks that
the four binaries' targets exist. Also checks that Dockerfile.dockerignore's
allowlist equals the COPY sources, so BuildKit sends nothing else.

  docker_context_check.py SCRATCH_DIR
"""

import os
import re
import shutil
import sys
import tempfile

import deploylib
from deploylib import BINARIES, Checker
from dockerfile_check import dockerfile_stages


def main():
    scratch = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
    c = Checker("docker_context")
    src = deploylib.source_dir()
    docker_dir = os.path.join(src, "deploy", "docker")
    build = dockerfile_stages(os.path.join(docker_dir, "Dockerfile"))["build"]
    sources = []
    for keyword, text in build["instructions"]:
        if keyword == "COPY":
            words = text.split()
            c.check(not any(w.startswith("--from") for w in words), f"build stage COPY {text}")
            c.check(words[:-1] != ["."], "build stage copies the whole context (COPY . .)")
            sources += [w.rstrip("/") for w in words[:-1]]
    c.check(sources, "build stage copies no source")

    with open(os.path.join(docker_dir, "Dockerfile.dockerignore")) as f:
        rules = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    c.check(rules[:1] == ["*"], "Dockerfile.dockerignore must start by excluding everything (*)")
    allowed = [r[1:].rstrip("/") for r in rules[1:] if r.startswith("!")]
    c.check(sorted(allowed) == sorted(sources),
            f"Dockerfile.dockerignore allows {sorted(allowed)} but the build copies {sorted(sources)}")

    os.makedirs(scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="deploy-context.") as tmp:
        ctx = os.path.join(tmp, "src")
        os.makedirs(ctx)
        for s in sources:
            origin = os.path.join(src, s)
            if not c.check(os.path.exists(origin), f"COPY source {s} does not exist"):
                continue
            if os.path.isdir(origin):
                shutil.copytree(origin, os.path.join(ctx, s), symlinks=True)
            else:
                shutil.copy2(origin, os.path.join(ctx, s))
        out = os.path.join(tmp, "build")
        r = deploylib.run(["cmake", "-S", ctx, "-B", out, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                           "-DBATCHSCRIBE_WERROR=OFF"], timeout=600)
        if c.check(r.returncode == 0,
                   f"CMake cannot configure the image's sources alone:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"):
            r = deploylib.run(["cmake", "--build", out, "--target", "help"], timeout=120)
            targets = set(re.findall(r"^\.\.\. (\S+)", r.stdout, re.M))
            for b in BINARIES:
                c.check(b in targets, f"the image's sources define no target {b}")
    c.done()


if __name__ == "__main__":
    main()

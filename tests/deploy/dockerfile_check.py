#!/usr/bin/python3
"""The Dockerfile's package lists match what the code needs.

  dockerfile_check.py BIN_DIR

- the build stage installs exactly scripts/bootstrap.sh's BUILD_PACKAGES on
  Debian 12 (bookworm);
- the runtime stage (bookworm-slim, no -dev package) covers every shared library
  the built binaries load: `ldd` on build/bin/<binary>, each library mapped to its
  Debian package with `dpkg -S`. A library the binary links directly (DT_NEEDED)
  must come from a listed package; one it only loads indirectly must come from a
  listed package or one of their dependencies (apt installs those); and every
  listed package but ca-certificates must provide a library some binary loads
  (no dead weight);
- the runtime stage runs as a numeric non-root user and sets no secret.
"""

import os
import re
import subprocess
import sys

import deploylib
from deploylib import BINARIES, Checker

NON_LIBRARY_RUNTIME = {"ca-certificates"}  # HTTPS to api.openai.com


def dockerfile_stages(path):
    """{stage name: {"from": image, "instructions": [(keyword, text)]}}."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"\\\n", " ", text)  # line continuations
    stages, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            current = {"from": m.group(1), "instructions": []}
            stages[m.group(2) or f"stage{len(stages)}"] = current
        elif current is not None:
            current["instructions"].append((keyword, rest.strip()))
    return stages


def apt_packages(stage):
    """Packages the stage's `apt-get install` commands name."""
    out = []
    for keyword, text in stage["instructions"]:
        if keyword != "RUN":
            continue
        for cmd in re.split(r"&&|;", text):
            words = cmd.split()
            if "apt-get" in words and "install" in words:
                out += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return out


def bootstrap_list(name):
    script = os.path.join(deploylib.source_dir(), "scripts", "bootstrap.sh")
    # Evaluate only the array assignment, not the script.
    prog = (f'eval "$(sed -n "/^{name}=(/,/)/p" "$1")"; '
            f'printf "%s\\n" "${{{name}[@]}}"')
    r = deploylib.run(["bash", "-c", prog, "bash", script])
    return [p for p in r.stdout.split() if p]


def path_variants(path):
    """The spellings dpkg may know a library path by (usrmerge: /lib vs /usr/lib)."""
    out = []
    for p in (path, os.path.realpath(path)):
        out.append(p)
        if p.startswith("/usr/lib/"):
            out.append(p[len("/usr"):])
        elif p.startswith("/lib/"):
            out.append("/usr" + p)
    return list(dict.fromkeys(out))


def owners(paths):
    """{path: package} for every path some installed package owns (one dpkg -S)."""
    r = deploylib.run(["dpkg", "-S"] + sorted(paths))
    out = {}
    for line in r.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        if path and "diversion" not in pkgs:
            out[path.strip()] = pkgs.split(",")[0].split(":")[0].strip()
    return out


def dependency_closure(packages):
    """packages plus everything they depend on (recursively, any alternative,
    virtual packages through Provides), per the installed dpkg database."""
    r = deploylib.run(["dpkg-query", "-W",
                       "-f=${Package}\t${Depends}, ${Pre-Depends}\t${Provides}\n"])
    depends, providers = {}, {}
    for line in r.stdout.splitlines():
        name, deps, provides = (line.split("\t") + ["", ""])[:3]
        depends[name] = [re.sub(r"\(.*?\)|:\w+", "", d).strip()
                         for alt in deps.split(",") for d in alt.split("|")]
        for p in provides.split(","):
            p = re.sub(r"\(.*?\)|:\w+", "", p).strip()
            if p:
                providers.setdefault(p, []).append(name)
    seen, pending = set(), list(packages)
    while pending:
        pkg = pending.pop()
        if not pkg or pkg in seen:
            continue
        seen.add(pkg)
        pending += depends.get(pkg, []) + providers.get(pkg, [])
    return seen


def main():
    if len(sys.argv) != 2:
        print("usage: dockerfile_check.py BIN_DIR")
        sys.exit(2)
    bin_dir = sys.argv[1]
    c = Checker("dockerfile")
    dockerfile = os.path.join(deploylib.source_dir(), "deploy", "docker", "Dockerfile")
    stages = dockerfile_stages(dockerfile)
    if not c.check({"build", "runtime"} <= set(stages), f"stages {list(stages)}: need build and runtime"):
        c.done()
    build, runtime = stages["build"], stages["runtime"]
    c.check(build["from"] in ("debian:bookworm", "debian:12"), f"build stage FROM {build['from']}")
    c.check(runtime["from"] in ("debian:bookworm-slim", "debian:12-slim"),
            f"runtime stage FROM {runtime['from']}")
    with open("/etc/debian_version") as f:
        c.check(f.read().startswith("12."), "this check maps libraries on Debian 12 only")

    wanted = bootstrap_list("BUILD_PACKAGES")
    c.check(len(wanted) > 5, "could not read BUILD_PACKAGES from scripts/bootstrap.sh")
    have = apt_packages(build)
    c.check(sorted(have) == sorted(wanted),
            f"build stage packages differ from BUILD_PACKAGES: missing {sorted(set(wanted) - set(have))}, "
            f"extra {sorted(set(have) - set(wanted))}, duplicates {len(have) != len(set(have))}")

    runtime_pkgs = apt_packages(runtime)
    c.check(runtime_pkgs, "runtime stage installs no package")
    c.check(not [p for p in runtime_pkgs if p.endswith("-dev")],
            f"runtime stage installs -dev packages: {[p for p in runtime_pkgs if p.endswith('-dev')]}")
    users = [t for k, t in runtime["instructions"] if k == "USER"]
    c.check(users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]),
            f"runtime stage must end as a numeric non-root USER, has {users}")
    for k, t in runtime["instructions"] + build["instructions"]:
        if k in ("ENV", "ARG"):
            c.check(not re.search(r"(KEY|TOKEN|PASSWORD|SECRET|DATABASE_URL)", t, re.I),
                    f"Dockerfile {k} {t}: secrets come from the runtime environment only")
    copies = [t for k, t in runtime["instructions"] if k == "COPY"]
    c.check(all(t.startswith("--from=build") for t in copies),
            f"runtime stage copies from outside the build stage: {copies}")

    closure = dependency_closure(runtime_pkgs)
    loaded = {}  # binary -> {soname: path}
    needed = {}  # binary -> DT_NEEDED sonames
    for binary in BINARIES:
        path = deploylib.binary_path(bin_dir, binary)
        if not os.access(path, os.X_OK):
            deploylib.fatal("dockerfile", f"{path} is not built: build the binaries first "
                                          "(cmake --build <build> --target " + " ".join(BINARIES) + ")")
        r = deploylib.run(["ldd", path])
        c.check(r.returncode == 0, f"ldd {binary} failed: {r.stderr}")
        libs = {}
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
            if m:
                if c.check(m.group(2) != "not", f"{binary}: {m.group(1)} not found"):
                    libs[m.group(1)] = m.group(2)
            m = re.match(r"\s*(/\S+)\s+\(", line)
            if m:
                libs[os.path.basename(m.group(1))] = m.group(1)
        loaded[binary] = libs
        needed[binary] = set(re.findall(r"NEEDED\s+(\S+)",
                                        deploylib.run(["objdump", "-p", path]).stdout))
    owner = owners({v for libs in loaded.values() for p in libs.values() for v in path_variants(p)})
    loaded_pkgs = set()
    for binary, libs in loaded.items():
        for soname, lib in sorted(libs.items()):
            pkg = next((owner[v] for v in path_variants(lib) if v in owner), None)
            if not c.check(pkg is not None, f"{binary}: no Debian package owns {lib}"):
                continue
            loaded_pkgs.add(pkg)
            if soname in needed[binary]:
                c.check(pkg in runtime_pkgs,
                        f"{binary} links {soname} from {pkg}: add {pkg} to the runtime stage")
            else:
                c.check(pkg in closure,
                        f"{binary} loads {soname} from {pkg}, which no runtime package brings")
    for pkg in runtime_pkgs:
        c.check(pkg in loaded_pkgs or pkg in NON_LIBRARY_RUNTIME,
                f"runtime package {pkg} provides no library the binaries load: remove it")
    print(f"dockerfile: {len(loaded_pkgs)} packages provide the binaries' libraries; "
          f"runtime stage lists {len(runtime_pkgs)}")
    c.done()


if __name__ == "__main__":
    main()

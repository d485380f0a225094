#!/usr/bin/python3
"""Checks the checker: drift_check.py must fail, naming the flag and the
variable, against stand-ins of the built binaries whose --help lacks one flag the
deploy files pass (openai-emulator --state_dir) and one variable (the worker's
DATABASE_URL). The stand-ins print the real binaries' help minus those lines.

  drift_check_selftest.py BIN_DIR TOOLS_DIR
"""

import os
import shlex
import stat
import sys
import tempfile

import deploylib
from deploylib import BINARIES, Checker

DROP = {"openai-emulator": "--state_dir", "batchscribe-worker": "--database_url"}


def main():
    bin_dir, tools_dir = sys.argv[1:3]
    c = Checker("drift_check_selftest")
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        for b in BINARIES:
            path = deploylib.binary_path(bin_dir, b)
            if not os.access(path, os.X_OK):
                deploylib.fatal(c.name, f"{path} is not built")
            r = deploylib.run([path, "--help"], timeout=60)
            lines = r.stdout.splitlines()
            if b in DROP:
                # The option's line and its description line (CLI11 wraps it below).
                i = next(i for i, l in enumerate(lines) if l.strip().startswith(DROP[b]))
                del lines[i:i + 2]
            stub = os.path.join(tmp, b)
            with open(stub, "w") as f:
                f.write("#!/bin/sh\nprintf '%s\\n' " + " ".join(shlex.quote(l) for l in lines) + "\n")
            os.chmod(stub, os.stat(stub).st_mode | stat.S_IEXEC)
        r = deploylib.run([sys.executable, os.path.join(here, "drift_check.py"), tmp, tools_dir])
    c.check(r.returncode == 1, f"drift_check.py exited {r.returncode} against the stand-ins")
    c.check("openai-emulator does not accept --state_dir" in r.stdout,
            "drift_check.py did not report openai-emulator --state_dir")
    c.check("batchscribe-worker does not read environment variable DATABASE_URL" in r.stdout,
            "drift_check.py did not report the worker's DATABASE_URL")
    if c.problems:
        print(r.stdout + r.stderr)
    c.done()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Checks the checker: k8s_check.py must fail on testdata/broken-prod (a prod
overlay with one instance of each mistake it guards against) and name each one.

  k8s_check_selftest.py TOOLS_DIR NODE_MODULES
"""

import os
import sys

import deploylib
from deploylib import Checker

EXPECTED = [
    "unknown field /spec/template/spec/terminationGracePeriodSecond",
    "coordinator: containerPort grpc 50052 != listen port 50051",
    "coordinator: readinessProbe must be a native gRPC probe",
    "coordinator Service must be headless",
    "worker Deployment sets replicas",
    "readOnlyRootFilesystem must be true",
    "container worker: privileged",
    "coordinator: may reach the internet",
    "coordinator gRPC port: open to everyone",
    "key OPENAI_API_KEY looks like a secret",
    "value of OPENAI_API_KEY looks like a credential",
    "worker: terminationGracePeriodSeconds 120 does not fit the drain",
]


def main():
    tools_dir, node_modules = sys.argv[1:3]
    c = Checker("k8s_check_selftest")
    here = os.path.dirname(os.path.abspath(__file__))
    r = deploylib.run([sys.executable, os.path.join(here, "k8s_check.py"), "prod", tools_dir,
                       node_modules, os.path.join(here, "testdata", "broken-prod")])
    c.check(r.returncode == 1, f"k8s_check.py exited {r.returncode} on the broken overlay")
    for text in EXPECTED:
        c.check(text in r.stdout, f"k8s_check.py did not report: {text}")
    if c.problems:
        print(r.stdout + r.stderr)
    c.done()


if __name__ == "__main__":
    main()

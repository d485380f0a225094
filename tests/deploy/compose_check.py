#!/usr/bin/python3
"""Validates deploy/docker/docker-compose.yml with Debian's docker-compose.

- `docker-compose config -q` passes with no .env, with .env.example, and with a
  .env that switches to the real OpenAI API;
- the resolved configuration has what the issue asks for: PostgreSQL 15 with a
  pg_isready healthcheck and a named volume, a one-shot migration, the
  coordinator health-checked over gRPC, scalable workers, the emulator, one shared
  volume, depends_on with conditions, hardened containers;
- the worker's start script picks the emulator without OPENAI_API_KEY and the
  real API with it (run with /bin/sh against a stub batchscribe-worker);
- secrets only from .env: the file holds no literal credential, .env is
  git-ignored, and .env.example documents every variable the file reads.
"""

import os
import re
import stat
import subprocess
import tempfile

import deploylib
from deploylib import Checker

OUR_SERVICES = ["migrate", "coordinator", "worker", "openai-emulator", "cli"]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def command_of(service):
    """entrypoint + command of a resolved service, as an argv list."""
    def as_list(v):
        if v is None:
            return []
        return v if isinstance(v, list) else v.split()
    return as_list(service.get("entrypoint")) + as_list(service.get("command"))


def check_structure(c, cfg):
    services = cfg.get("services", {})
    for name in ["postgres"] + OUR_SERVICES:
        c.check(name in services, f"no service {name}")
    if c.problems:
        return
    pg = services["postgres"]
    c.check(str(pg.get("image", "")).startswith("postgres:15"), "postgres must be postgres:15")
    c.check("pg_isready" in " ".join(pg.get("healthcheck", {}).get("test", [])),
            "postgres healthcheck must run pg_isready")
    pg_volumes = [v.split(":")[0] for v in pg.get("volumes", [])]
    c.check(any(v in cfg.get("volumes", {}) for v in pg_volumes),
            "postgres data must be on a named volume")

    migrate = services["migrate"]
    c.check(command_of(migrate) == ["batchscribe-coordinator", "--migrate_only"],
            "migrate must run batchscribe-coordinator --migrate_only")
    c.check(migrate.get("restart") in ("no", None), "migrate must not restart (one-shot)")
    c.check(migrate.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy",
            "migrate must wait for postgres: service_healthy")

    coord = services["coordinator"]
    argv = command_of(coord)
    listen = next((a.split("=", 1)[1] for a in argv if a.startswith("--listen=")), "0.0.0.0:50051")
    port = listen.rsplit(":", 1)[1]
    test = coord.get("healthcheck", {}).get("test", [])
    c.check(test[:1] == ["CMD"] and "batchscribe-coordinator" in test
            and f"--health_check=127.0.0.1:{port}" in test,
            f"coordinator healthcheck must be batchscribe-coordinator --health_check=127.0.0.1:{port}")
    deps = coord.get("depends_on", {})
    c.check(deps.get("migrate", {}).get("condition") == "service_completed_successfully",
            "coordinator must wait for migrate: service_completed_successfully")
    for p in coord.get("ports", []):
        c.check(str(p).startswith("127.0.0.1:"),
                f"coordinator port {p} must be published on 127.0.0.1 only (no auth locally)")

    worker = services["worker"]
    c.check("container_name" not in worker and not worker.get("ports"),
            "worker must have no container_name and no host port (--scale worker=N)")
    c.check(worker.get("depends_on", {}).get("migrate", {}).get("condition")
            == "service_completed_successfully", "worker must wait for migrate")
    c.check(services["cli"].get("profiles") == ["cli"], "cli must be behind the cli profile")
    script = command_of(worker)[-1] if command_of(worker) else ""
    health = re.search(r"--health_port=(\d+)", script)
    if c.check(health is not None, "worker must serve its health endpoint (--health_port)"):
        c.check(worker.get("healthcheck", {}).get("test", []) ==
                ["CMD", "batchscribe-worker", f"--health_check=127.0.0.1:{health.group(1)}"],
                "worker healthcheck must be batchscribe-worker "
                f"--health_check=127.0.0.1:{health.group(1)} (not /metrics: it stays up when "
                "the claim loop is stuck)")
    drain = deploylib.worker_drain_seconds(script.split(), worker.get("environment") or {})
    grace = deploylib.duration_seconds(worker.get("stop_grace_period", "10s"))
    if c.check(drain is not None, "worker: set the drain (BATCHSCRIBE_DRAIN_SECONDS)"):
        c.check(grace >= drain + deploylib.HAND_BACK_SECONDS,
                f"worker stop_grace_period {grace:.0f} s does not fit the drain "
                f"({drain} s + {deploylib.HAND_BACK_SECONDS} s to hand back)")

    shared = {}
    for name in ("coordinator", "worker"):
        for v in services[name].get("volumes", []):
            src, dst = v.split(":")[:2]
            if dst == "/data":
                shared[name] = src
    c.check(len(shared) == 2 and len(set(shared.values())) == 1
            and shared["coordinator"] in cfg.get("volumes", {}),
            f"coordinator and worker must share one named volume at /data: {shared}")

    images = {services[n].get("image") for n in OUR_SERVICES}
    c.check(len(images) == 1, f"one image for every batchscribe service, got {images}")
    for name in OUR_SERVICES:
        s = services[name]
        c.check(s.get("read_only") is True, f"{name}: read_only root filesystem")
        c.check("ALL" in s.get("cap_drop", []), f"{name}: cap_drop ALL")
        c.check("no-new-privileges:true" in s.get("security_opt", []), f"{name}: no-new-privileges")
        c.check(s.get("build", {}).get("dockerfile") == "deploy/docker/Dockerfile",
                f"{name}: must build deploy/docker/Dockerfile")


def check_backend_switch(c, cfg, label, expect_url, expect_key):
    """Runs the worker's start script with a stub batchscribe-worker."""
    worker = cfg["services"]["worker"]
    argv = command_of(worker)
    if not c.check(argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3,
                   "worker entrypoint must be /bin/sh -c SCRIPT"):
        return
    script = argv[2].replace("$$", "$")  # compose's escape for a literal $
    with tempfile.TemporaryDirectory() as tmp:
        stub = write(os.path.join(tmp, "batchscribe-worker"),
                     '#!/bin/sh\nprintf "url=%s\\nkey=%s\\nargs=%s\\n" '
                     '"$OPENAI_BASE_URL" "$OPENAI_API_KEY" "$*"\n')
        os.chmod(stub, os.stat(stub).st_mode | stat.S_IEXEC)
        env = {k: str(v) for k, v in (worker.get("environment") or {}).items()}
        env["PATH"] = f"{tmp}:/usr/bin:/bin"
        r = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True,
                           timeout=30)
    out = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    c.check(r.returncode == 0, f"{label}: worker script failed: {r.stderr}")
    c.check(out.get("url") == expect_url,
            f"{label}: worker uses {out.get('url')}, expected {expect_url}")
    c.check(out.get("key") == expect_key, f"{label}: worker's OPENAI_API_KEY is not {expect_key}")


def main():
    c = Checker("compose")
    src = deploylib.source_dir()
    docker_dir = os.path.join(src, "deploy", "docker")
    example = os.path.join(docker_dir, ".env.example")
    with tempfile.TemporaryDirectory() as tmp:
        empty = write(os.path.join(tmp, "absent.env"), "")
        real = write(os.path.join(tmp, "real.env"),
                     "OPENAI_API_KEY=sk-test-deploy-check\nPOSTGRES_PASSWORD=s3cret-test\n")
        for label, env_file in (("no .env", empty), (".env.example", example),
                                ("real-API .env", real)):
            rc, out, _ = deploylib.compose_config("compose", env_file, quiet=True)
            c.check(rc == 0, f"docker-compose config -q with {label} failed:\n{out}")
        rc, out, absent = deploylib.compose_config("compose", empty)
        c.check(rc == 0, f"docker-compose config with no .env failed:\n{out}")
        rc, out, with_key = deploylib.compose_config("compose", real)
        c.check(rc == 0, f"docker-compose config with a real-API .env failed:\n{out}")
    if absent:
        check_structure(c, absent)
        check_backend_switch(c, absent, "no .env", "http://openai-emulator:8080/v1", "emulator")
    if with_key:
        check_backend_switch(c, with_key, "OPENAI_API_KEY set", "https://api.openai.com/v1",
                             "sk-test-deploy-check")
        url = with_key["services"]["coordinator"]["environment"].get("DATABASE_URL", "")
        c.check(":s3cret-test@" in url, "POSTGRES_PASSWORD from .env does not reach DATABASE_URL")

    with open(deploylib.compose_file()) as f:
        raw = f.read()
    for m in re.finditer(r"://[^/@\s:]+:([^/@\s]+)@", raw):
        c.check(m.group(1).startswith("${"),
                f"compose file has a literal password in a URL: {m.group(0)}")
    for m in re.finditer(r"^\s*(\w*(?:PASSWORD|API_KEY|TOKEN)\w*):\s*(.*)$", raw, re.M):
        c.check(m.group(2).strip().startswith("${"),
                f"compose file sets {m.group(1)} literally; take it from .env")
    variables = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", raw))
    with open(example) as f:
        documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", f.read(), re.M))
    c.check(variables <= documented,
            f".env.example does not document {sorted(variables - documented)}")
    with open(os.path.join(docker_dir, ".gitignore")) as f:
        c.check(".env" in f.read().split(), "deploy/docker/.gitignore must ignore .env")
    c.done()


if __name__ == "__main__":
    main()

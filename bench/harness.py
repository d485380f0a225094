#!/usr/bin/python3
"""Runs the batchscribe benchmarks side by side with their comparisons and
prints a table of medians (scripts/bench.sh is the entry point).

Every figure is measured in the same run, on the same data, as the figure it is
compared with, and the runs of the two are interleaved so that noise from other
processes on the machine hits both alike. Wall time, CPU time and peak RSS of a
measured program come from wait4(2) on it (its whole process tree).
"""

import argparse
import datetime
import glob
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3"
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
MIB = 1024 * 1024

# Sizes per profile. "full" is what issue 8 asks for; "quick" checks that
# everything runs in a few minutes.
PROFILES = {
    "quick": {
        "prepare_count": 200, "prepare_size": 500_000,
        "big_pdf_size": 20 * MIB,
        "long_pdf_size": 30_000_000,
        "retrieve_lines": 2_000,
        "queue_cycles": 2_000, "queue_depth": 1_000,
        "api_documents": 10_000, "api_rate": 500, "api_seconds": 5,
        "e2e_count": 300, "e2e_size": 100_000,
    },
    "full": {
        "prepare_count": 2_000, "prepare_size": 500_000,
        # The largest PDF whose request line fits the default 190 MB shard cap.
        "big_pdf_size": 140_000_000,
        "long_pdf_size": 30_000_000,
        "retrieve_lines": 20_000,
        "queue_cycles": 10_000, "queue_depth": 1_000,
        "api_documents": 100_000, "api_rate": 500, "api_seconds": 20,
        "e2e_count": 10_000, "e2e_size": 100_000,
    },
}


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "hostname": socket.gethostname(),
    }


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class Measured:
    """One run of one program: wall, CPU, peak RSS and its JSON result line."""

    def __init__(self, wall, rusage, stdout, returncode):
        self.wall_s = wall
        self.user_s = rusage.ru_utime
        self.sys_s = rusage.ru_stime
        self.max_rss_bytes = rusage.ru_maxrss * 1024
        self.stdout = stdout
        self.returncode = returncode
        self.result = {}
        for line in reversed(stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    self.result = json.loads(line)
                    break
                except ValueError:
                    pass


def measure(cmd, shell=False, env=None, check=True, timeout=3600):
    """Runs `cmd`, waits for it with wait4 and returns a Measured."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, shell=shell, stdout=out, stderr=err, env=env)
        deadline = None if timeout is None else start + timeout
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid != 0:
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.002)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    m = Measured(wall, rusage, stdout, proc.returncode)
    if check and proc.returncode != 0:
        raise RuntimeError("%s exited with %d\n%s\n%s" % (
            cmd if isinstance(cmd, str) else " ".join(cmd), proc.returncode,
            stdout[-2000:], stderr[-4000:]))
    return m


def cpu_seconds(pid, with_children=False):
    """utime + stime of a live process (plus its reaped children's), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return 0.0
    fields = text[text.rfind(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def parent_pid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return -1
    return int(text[text.rfind(")") + 2:].split()[1])


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Report:
    """Rows of the table: a figure, its comparison, and the target."""

    def __init__(self):
        self.rows = []

    def add(self, bench, measure_name, unit, ours, better="higher", compare=None,
            compare_name=None, target=None, target_text=None, note=None):
        """`ours` and `compare` are lists of samples (one per run)."""
        row = {
            "benchmark": bench,
            "measure": measure_name,
            "unit": unit,
            "better": better,
            "samples": ours,
            "median": median(ours),
        }
        if compare is not None:
            row["compare_name"] = compare_name
            row["compare_samples"] = compare
            row["compare_median"] = median(compare)
            if row["median"] and row["compare_median"]:
                row["ratio"] = row["median"] / row["compare_median"]
        if target is not None:
            row["target"] = target_text
            row["target_met"] = bool(target(row))
        if note:
            row["note"] = note
        self.rows.append(row)
        return row


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def table(rows):
    head = ["benchmark", "measure", "batchscribe", "compared with", "value", "ratio", "target"]
    lines = []
    for r in rows:
        target = r.get("target", "")
        if "target_met" in r:
            target = ("met: " if r["target_met"] else "MISSED: ") + target
        lines.append([
            r["benchmark"], r["measure"] + " (" + r["unit"] + ")", fmt(r["median"]),
            r.get("compare_name", ""), fmt(r.get("compare_median")),
            ("%.2fx" % r["ratio"]) if "ratio" in r else "", target,
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    out = []
    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    out.append("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    out.append(sep)
    for line in lines:
        out.append("| " + " | ".join(str(x).ljust(w) for x, w in zip(line, widths)) + " |")
    return "\n".join(out)


class Bench:
    def __init__(self, args):
        self.args = args
        self.p = dict(PROFILES[args.profile])
        self.bin = os.path.join(args.build, "bin")
        self.work = args.work
        self.report = Report()
        self.notes = []
        self.load = {}
        self.services = []
        self.last = None

    def have(self, name):
        path = os.path.join(self.bin, name)
        if not os.access(path, os.X_OK):
            self.notes.append("%s was not built: its benchmark was skipped" % name)
            log(self.notes[-1])
            return None
        return path

    # ---------------------------------------------------------------- corpus
    def corpus(self, name, count, size, pages=None):
        folder = os.path.join(self.work, "corpus", "%s-%dx%d" % (name, count, size))
        if pages:
            folder += "-%dp" % pages
        stamp = os.path.join(folder, ".complete")
        if not os.path.exists(stamp):
            log("generating %d PDFs of %d bytes in %s" % (count, size, folder))
            shutil.rmtree(folder, ignore_errors=True)
            extra = ["--pages", str(pages), "--spread"] if pages else []
            subprocess.run([PYTHON, os.path.join(HERE, "make_corpus.py"), "pdfs", "--out", folder,
                            "--count", str(count), "--size", str(size)] + extra, check=True)
            open(stamp, "w").close()
        return folder

    def output_file(self, lines, page_chars=2000):
        path = os.path.join(self.work, "corpus", "output-%dx%d.jsonl" % (lines, page_chars))
        if not os.path.exists(path):
            log("generating a batch output file of %d lines" % lines)
            subprocess.run([PYTHON, os.path.join(HERE, "make_corpus.py"), "output", "--out",
                            path + ".tmp", "--count", str(lines), "--page_chars",
                            str(page_chars)], check=True)
            os.replace(path + ".tmp", path)
        return path

    @staticmethod
    def pdfs(folder):
        return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".pdf"))

    @staticmethod
    def warm(files):
        # Page-cache reads are what the comparisons assume for every program.
        subprocess.run(["cat"] + files, stdout=subprocess.DEVNULL, check=True)

    def scratch(self, name):
        path = os.path.join(self.work, "scratch", name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    # --------------------------------------------------------------- prepare
    def bench_prepare(self):
        prepare = self.have("bench-prepare")
        corpus = self.corpus("prepare", self.p["prepare_count"], self.p["prepare_size"])
        files = self.pdfs(corpus)
        raw = sum(os.path.getsize(f) for f in files)
        self.warm(files)
        out_dir = self.scratch("prepare")
        shard = os.path.join(out_dir, "input.jsonl")
        samples = {k: [] for k in ("ours", "ours_rss", "seed", "seed_rss", "cat", "copy", "b64")}
        for run in range(self.args.runs):
            log("prepare run %d/%d (%d MB of PDF)" % (run + 1, self.args.runs, raw // 10**6))
            if prepare:
                samples["ours"].append(self.run_prepare(prepare, corpus)["mb_per_s"])
                samples["ours_rss"].append(self.last.max_rss_bytes / MIB)
            m = measure([PYTHON, os.path.join(HERE, "seed_reference.py"), "prepare", "--input",
                         corpus, "--out", shard])
            samples["seed"].append(raw / m.wall_s / 1e6)
            samples["seed_rss"].append(m.max_rss_bytes / MIB)
            os.remove(shard)
            m = measure(["sh", "-c", 'cat "$@" > /dev/null', "cat"] + files)
            samples["cat"].append(raw / m.wall_s / 1e6)
            m = measure(["sh", "-c", 'out=$1; shift; cat "$@" > "$out"', "copy", shard] + files)
            samples["copy"].append(raw / m.wall_s / 1e6)
            os.remove(shard)
            m = measure(["sh", "-c", 'out=$1; shift; cat "$@" | base64 -w0 > "$out"', "b64",
                         shard] + files)
            samples["b64"].append(raw / m.wall_s / 1e6)
            os.remove(shard)
        r = self.report
        label = "%d x %d KB PDFs" % (len(files), self.p["prepare_size"] // 1000)
        if prepare:
            r.add("prepare", "throughput, " + label, "MB/s of PDF", samples["ours"],
                  compare=samples["seed"], compare_name="seed Python (base64 + json.dumps)",
                  target=lambda row: row.get("ratio", 0) >= 10, target_text=">= 10x Python")
            r.add("prepare", "throughput", "MB/s of PDF", samples["ours"], compare=samples["b64"],
                  compare_name="coreutils base64 of the corpus")
            r.add("prepare", "throughput", "MB/s of PDF", samples["ours"], compare=samples["copy"],
                  compare_name="cat corpus > file (copy)")
            r.add("prepare", "throughput", "MB/s of PDF", samples["ours"], compare=samples["cat"],
                  compare_name="cat corpus > /dev/null (read)")
            r.add("prepare", "peak RSS, " + label, "MiB", samples["ours_rss"], better="lower",
                  compare=samples["seed_rss"], compare_name="seed Python",
                  target=lambda row: row["median"] <= 32, target_text="<= 32 MiB")
        else:
            r.add("prepare", "seed Python throughput, " + label, "MB/s of PDF", samples["seed"])
        self.bench_prepare_big(prepare)
        self.bench_prepare_long(prepare)
        self.bench_base64()

    def run_prepare(self, prepare, corpus):
        """The real worker's plan + prepare of every PDF in `corpus`."""
        storage = self.scratch("prepare-storage")
        self.last = measure([prepare, "--admin_url", self.args.pg_url, "--database",
                             "bench_prepare", "--input_root", os.path.dirname(corpus),
                             "--directory", os.path.basename(corpus), "--storage", storage])
        shutil.rmtree(storage, ignore_errors=True)
        return self.last.result

    def bench_base64(self):
        """The hot spot of prepare alone (bench/base64_bench.cc)."""
        tool = self.have("bench-base64")
        if not tool:
            return
        real, previous = [], []
        for run in range(self.args.runs):
            m = measure([tool, "--megabytes", "256"])
            real.append(m.result["base64_append_mb_per_s"])
            previous.append(m.result["previous_mb_per_s"])
        self.report.add("prepare", "hot spot: jsonl::Base64Append, 192 KiB chunks", "MB/s",
                        real, compare=previous,
                        compare_name="the encoder it replaced (1 char per append)")

    def bench_prepare_big(self, prepare):
        """One very large PDF: peak RSS must not follow the size of a line."""
        size = self.p["big_pdf_size"]
        corpus = self.corpus("big", 1, size)
        files = self.pdfs(corpus)
        self.warm(files)
        shard = os.path.join(self.scratch("prepare-big"), "input.jsonl")
        ours, seed = [], []
        for run in range(self.args.runs):
            log("prepare (one %d MB PDF) run %d/%d" % (size // 10**6, run + 1, self.args.runs))
            if prepare:
                self.run_prepare(prepare, corpus)
                ours.append(self.last.max_rss_bytes / MIB)
            m = measure([PYTHON, os.path.join(HERE, "seed_reference.py"), "prepare", "--input",
                         corpus, "--out", shard])
            seed.append(m.max_rss_bytes / MIB)
            os.remove(shard)
        if prepare:
            self.report.add("prepare", "peak RSS, 1 x %d MB PDF" % (size // 10**6), "MiB", ours,
                            better="lower", compare=seed, compare_name="seed Python",
                            target=lambda row: row["median"] <= 32, target_text="<= 32 MiB")

    def bench_prepare_long(self, prepare):
        """Issue 13: one 3,000-page PDF, planned and written in parts (qpdf page
        ranges streamed into the JSONL lines), beside a 3-page PDF of the same
        size that goes out as one part, unchanged. Same bytes per page: every
        page carries its share of the file (make_corpus.py --spread)."""
        if not prepare:
            return
        size = self.p["long_pdf_size"]
        long_corpus = self.corpus("long", 1, size, pages=3000)
        short_corpus = self.corpus("long", 1, size, pages=3)
        self.warm(self.pdfs(long_corpus) + self.pdfs(short_corpus))
        parts_rate, parts_rss, whole_rate, whole_rss = [], [], [], []
        for run in range(self.args.runs):
            log("prepare (3,000 pages vs 3 pages, %d MB) run %d/%d" %
                (size // 10**6, run + 1, self.args.runs))
            parts_rate.append(self.run_prepare(prepare, long_corpus)["mb_per_s"])
            parts_rss.append(self.last.max_rss_bytes / MIB)
            whole_rate.append(self.run_prepare(prepare, short_corpus)["mb_per_s"])
            whole_rss.append(self.last.max_rss_bytes / MIB)
        label = "1 x 3,000-page %d MB PDF in parts" % (size // 10**6)
        self.report.add("prepare", "throughput, " + label, "MB/s of PDF", parts_rate,
                        compare=whole_rate, compare_name="a 3-page PDF of the same size, one part",
                        target=lambda row: row.get("ratio", 0) >= 0.5, target_text=">= 0.5x")
        self.report.add("prepare", "peak RSS, " + label, "MiB", parts_rss, better="lower",
                        compare=whole_rss, compare_name="a 3-page PDF of the same size, one part",
                        target=lambda row: row.get("ratio", 9) <= 1.25,
                        target_text="about the one-part document's (<= 1.25x)")

    # -------------------------------------------------------------- retrieve
    def bench_retrieve(self):
        retrieve = self.have("bench-retrieve")
        lines = self.p["retrieve_lines"]
        output = self.output_file(lines)
        self.warm([output])
        samples = {k: [] for k in ("ours", "ours_rss", "seed", "seed_rss", "seed_durable")}
        # Every run of every side writes into a folder of its own, and nothing
        # is deleted until the end: on ext4 without a journal (this machine's
        # disk), creating files just after deleting many is several times
        # slower (the inode allocator skips inodes deleted in the last 60 s,
        # fs/ext4/ialloc.c recently_deleted()), which made the figures depend
        # on the order of the runs rather than on the code.
        for run in range(self.args.runs):
            log("retrieve run %d/%d (%d lines)" % (run + 1, self.args.runs, lines))
            if retrieve:
                storage = self.scratch("retrieve-ours-%d" % run)
                m = measure([retrieve, "--admin_url", self.args.pg_url, "--database",
                             "bench_retrieve", "--output", output, "--storage", storage])
                samples["ours"].append(m.result["lines_per_s"])
                samples["ours_rss"].append(m.max_rss_bytes / MIB)
            for durable, key in ((False, "seed"), (True, "seed_durable")):
                storage = self.scratch("retrieve-seed-%s-%d" % (key, run))
                cmd = [PYTHON, os.path.join(HERE, "seed_reference.py"), "retrieve", "--output",
                       output, "--storage", storage]
                m = measure(cmd + (["--durable"] if durable else []))
                samples[key].append(lines / m.wall_s)
                if not durable:
                    samples["seed_rss"].append(m.max_rss_bytes / MIB)
        shutil.rmtree(os.path.join(self.work, "scratch"), ignore_errors=True)
        # The rates are what matter: 5,000 files show them without spending
        # minutes on 20,000 fsync pairs.
        self.bench_durability(min(lines, 5_000))
        r = self.report
        label = "%d lines, 3-page transcripts" % lines
        if retrieve:
            r.add("retrieve", "worker retrieve (durable), " + label, "lines/s",
                  samples["ours"], compare=samples["seed"],
                  compare_name="seed Python (json.loads, no fsync)",
                  target=lambda row: row.get("ratio", 0) >= 5, target_text=">= 5x Python")
            r.add("retrieve", "worker retrieve (durable)", "lines/s", samples["ours"],
                  compare=samples["seed_durable"], compare_name="seed Python + fsync per file")
            r.add("retrieve", "peak RSS, " + label, "MiB", samples["ours_rss"], better="lower",
                  compare=samples["seed_rss"], compare_name="seed Python")
        else:
            r.add("retrieve", "seed Python, " + label, "lines/s", samples["seed"])
            r.add("retrieve", "seed Python + fsync per file", "lines/s", samples["seed_durable"])

    def bench_durability(self, files):
        """The storage side of retrieve alone: N transcript-sized files written
        with each durability strategy (bench/durability_bench.cc)."""
        tool = self.have("bench-durability")
        if not tool:
            return
        modes = (("per_file", 1), ("parallel", 16), ("group", 1), ("none", 1))
        samples = {m: [] for m, _ in modes}
        for run in range(self.args.runs):
            log("transcript writes, %d files, run %d/%d" % (files, run + 1, self.args.runs))
            for mode, threads in modes:
                folder = self.scratch("durability-%s-%d" % (mode, run))
                m = measure([tool, "--dir", folder, "--files", str(files), "--bytes", "6500",
                             "--mode", mode, "--threads", str(threads)])
                samples[mode].append(m.result["files_per_s"])
        shutil.rmtree(os.path.join(self.work, "scratch"), ignore_errors=True)
        r = self.report
        r.add("retrieve", "transcript writes: AtomicWriteFile (2 fsyncs each)", "files/s",
              samples["per_file"], compare=samples["none"],
              compare_name="write + rename, never synced")
        r.add("retrieve", "transcript writes: AtomicWriteFile from 16 threads", "files/s",
              samples["parallel"], compare=samples["none"],
              compare_name="write + rename, never synced")
        r.add("retrieve", "transcript writes: deferred AtomicWriteFile + one syncfs (retrieve)",
              "files/s",
              samples["group"], compare=samples["none"],
              compare_name="write + rename, never synced")

    # ----------------------------------------------------------------- queue
    def bench_queue(self):
        queue = self.have("bench-queue")
        if not queue:
            return
        db = "bench_queue"
        db_url = self.db_url(db)
        cycles = self.p["queue_cycles"]
        pgbench_script = os.path.join(HERE, "queue_cycle.pgbench")

        def setup():
            measure([queue, "setup", "--admin_url", self.args.pg_url, "--database", db,
                     "--depth", str(self.p["queue_depth"])])

        def pgbench(clients, mode, script=pgbench_script):
            m = measure([PGBENCH, "-n", "-M", mode, "-c", str(clients), "-j", str(clients),
                         "-t", str(max(1, cycles // clients)), "-f", script, db_url])
            for line in m.stdout.splitlines():
                if line.startswith("tps = "):
                    return float(line.split()[2])
            raise RuntimeError("pgbench printed no tps:\n" + m.stdout)

        for claimers in (1, 4, 16):
            ours, limit, extended, before, p99 = [], [], [], [], []
            for run in range(self.args.runs):
                log("queue, %d claimers, run %d/%d" % (claimers, run + 1, self.args.runs))
                setup()
                m = measure([queue, "run", "--database_url", db_url, "--claimers", str(claimers),
                             "--cycles", str(cycles)])
                ours.append(m.result["cycles_per_s"])
                p99.append(m.result["claim"]["p99_ms"] + m.result["complete"]["p99_ms"])
                setup()
                limit.append(pgbench(claimers, "prepared"))
                setup()
                extended.append(pgbench(claimers, "extended"))
                setup()
                before.append(pgbench(claimers, "prepared",
                                      os.path.join(HERE, "queue_cycle_before.pgbench")))
            self.report.add("queue", "claim+complete, %d claimer%s" % (
                claimers, "s" if claimers > 1 else ""), "cycles/s", ours, compare=limit,
                compare_name="pgbench, same SQL, prepared",
                target=lambda row: row.get("ratio", 0) >= 0.5, target_text=">= 0.5x pgbench")
            self.report.add("queue", "claim+complete, %d claimer%s" % (
                claimers, "s" if claimers > 1 else ""), "cycles/s", ours, compare=extended,
                compare_name="pgbench, same SQL, unprepared (-M extended)")
            self.report.add("queue", "claim+complete, %d claimer%s" % (
                claimers, "s" if claimers > 1 else ""), "cycles/s", ours, compare=before,
                compare_name="pgbench, the cycle before issue 8 (8 statements), prepared")
        measure([queue, "drop", "--admin_url", self.args.pg_url, "--database", db])

    # ------------------------------------------------------------- services
    def free_port(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def psql(self, sql, database="postgres"):
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.db_url(database),
                        "-c", sql], check=True, stdout=subprocess.DEVNULL)

    def fresh_database(self, name):
        self.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        self.psql("CREATE DATABASE %s" % name)
        return self.db_url(name)

    def start(self, name, cmd, port=None, env=None):
        """Starts a service, logging to <work>/logs/<name>.log; waits for its port."""
        logs = os.path.join(self.work, "logs")
        os.makedirs(logs, exist_ok=True)
        logf = open(os.path.join(logs, name + ".log"), "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=full_env)
        proc.bench_name = name
        proc.bench_log = logf
        self.services.append(proc)
        if port is not None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError("%s exited with %d: see %s" % (name, proc.returncode,
                                                                       logf.name))
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                raise RuntimeError("%s did not listen on %d" % (name, port))
        return proc

    def stop_all(self):
        """SIGTERM every service (SIGKILL after 20 s); returns CPU seconds by name,
        read just before the signal."""
        cpu = {}
        for proc in self.services:
            cpu[proc.bench_name] = cpu_seconds(proc.pid)
        for proc in self.services:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.services:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.bench_log.close()
        self.services = []
        return cpu

    def postgres_cpu(self):
        """CPU seconds of the whole PostgreSQL cluster so far (the postmaster,
        the backends it reaped, and live children)."""
        with open(os.path.join(self.args.pg_dir, "data", "postmaster.pid")) as f:
            master = int(f.readline())
        total = cpu_seconds(master, with_children=True)
        for pid in os.listdir("/proc"):
            if pid.isdigit() and parent_pid(int(pid)) == master:
                total += cpu_seconds(int(pid))
        return total

    def coordinator_cmd(self, port, db_url, input_root, storage_root):
        return [os.path.join(self.bin, "batchscribe-coordinator"),
                "--listen", "127.0.0.1:%d" % port, "--database_url", db_url,
                "--input_root", input_root, "--storage_root", storage_root,
                "--metrics_port", "0", "--log_level", "warn"]

    # ------------------------------------------------------------------- api
    def bench_api(self):
        client = self.have("bench-api")
        coordinator = self.have("batchscribe-coordinator")
        if not client or not coordinator:
            return
        n = self.p["api_documents"]
        # N distinct paths: hard links to one small PDF (what SubmitDocuments
        # reads is the directory entry and the size, never the bytes).
        inputs = os.path.join(self.work, "api", "inputs")
        docs = os.path.join(inputs, "docs")
        stamp = os.path.join(docs, ".complete-%d" % n)
        if not os.path.exists(stamp):
            log("linking %d input documents" % n)
            shutil.rmtree(docs, ignore_errors=True)
            one = self.pdfs(self.corpus("api-one", 1, 20_000))[0]
            os.makedirs(docs)
            source = None
            for i in range(1, n + 1):
                if (i - 1) % 50_000 == 0:
                    # ext4 allows 65,000 links to one inode: a fresh copy per 50,000.
                    source = os.path.join(inputs, "source-%d.pdf" % (i // 50_000))
                    shutil.copyfile(one, source)
                os.link(source, os.path.join(docs, "doc-%06d.pdf" % i))
            open(stamp, "w").close()
        samples = {k: [] for k in ("submit", "floor", "get50", "get99", "list50", "list99",
                                   "rate", "late", "coord_cpu", "sql_now", "sql_now_tps",
                                   "sql_before", "sql_before_tps")}
        for run in range(self.args.runs):
            log("api run %d/%d (%d documents)" % (run + 1, self.args.runs, n))
            db_url = self.fresh_database("bench_api")
            storage = self.scratch("api-storage")
            port = self.free_port()
            cmd = self.coordinator_cmd(port, db_url, inputs, storage)
            subprocess.run(cmd + ["--migrate_only"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            self.start("coordinator", cmd, port=port)
            server = "127.0.0.1:%d" % port
            m = measure([client, "submit", "--server", server, "--count", str(n),
                         "--directory", "docs"])
            samples["submit"].append(m.result["seconds"])
            batch = m.result["batch"]
            m = measure([client, "load", "--server", server, "--batch", batch, "--rate",
                         str(self.p["api_rate"]), "--seconds", str(self.p["api_seconds"])])
            res = m.result
            samples["get50"].append(res["get_batch"]["p50_ms"])
            samples["get99"].append(res["get_batch"]["p99_ms"])
            samples["list50"].append(res["list_documents"]["p50_ms"])
            samples["list99"].append(res["list_documents"]["p99_ms"])
            samples["rate"].append(res["achieved_rate"])
            samples["late"].append(res["late"])
            samples["coord_cpu"].append(self.stop_all()["coordinator"])
            # The database's own ceiling for GetBatch's queries on this batch,
            # and for the scan GetBatch ran before document_counts.
            batch_id = batch.split("/", 1)[1]
            self.psql("VACUUM ANALYZE", "bench_api")
            for script, key in (("getbatch_current.pgbench", "sql_now"),
                                ("getbatch_before.pgbench", "sql_before")):
                m = measure([PGBENCH, "-n", "-M", "prepared", "-c", "2", "-j", "2", "-T", "5",
                             "-D", "batch=" + batch_id, "-f", os.path.join(HERE, script),
                             db_url])
                for line in m.stdout.splitlines():
                    if line.startswith("latency average = "):
                        samples[key].append(float(line.split()[3]))
                    if line.startswith("tps = "):
                        samples[key + "_tps"].append(float(line.split()[2]))
            # The database's own floor for the rows a submit writes: one
            # INSERT ... SELECT of N document rows into a fresh schema.
            self.psql("DELETE FROM batches", "bench_api")
            floor_sql = (
                "INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema,"
                " max_completion_tokens, skip_existing) VALUES ('floor', 'x', 'PENDING',"
                " 'gpt-4.1-mini', 'BATCH', 'p', '{}', 16000, true);"
                " INSERT INTO documents (batch_id, document_id, path, size_bytes, state)"
                " SELECT 'floor', 'doc-' || lpad(g::text, 6, '0'),"
                " 'docs/doc-' || lpad(g::text, 6, '0') || '.pdf', 20000, 'PENDING'"
                " FROM generate_series(1, %d) g;" % n)
            m = measure(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", db_url, "-c", floor_sql])
            samples["floor"].append(m.wall_s)
        self.psql("DROP DATABASE IF EXISTS bench_api WITH (FORCE)")
        r = self.report
        rate = self.p["api_rate"]
        r.add("api", "SubmitDocuments, %d documents" % n, "s", samples["submit"], better="lower",
              compare=samples["floor"], compare_name="psql: INSERT ... SELECT of the rows",
              target=lambda row: row["median"] < 10, target_text="< 10 s")
        r.add("api", "GetBatch p50 at %d req/s" % rate, "ms", samples["get50"], better="lower")
        r.add("api", "GetBatch p99 at %d req/s" % rate, "ms", samples["get99"], better="lower",
              target=lambda row: row["median"] < 10, target_text="< 10 ms")
        r.add("api", "GetBatch's SQL alone, pgbench 2 clients, %d documents" % n, "ms avg",
              samples["sql_now"], better="lower", compare=samples["sql_before"],
              compare_name="GetBatch's SQL before issue 8 (GROUP BY over documents)")
        r.add("api", "GetBatch's SQL alone, pgbench 2 clients", "calls/s",
              samples["sql_now_tps"], compare=samples["sql_before_tps"],
              compare_name="GetBatch's SQL before issue 8 (GROUP BY over documents)")
        r.add("api", "ListDocuments p50 at %d req/s" % rate, "ms", samples["list50"],
              better="lower")
        r.add("api", "ListDocuments p99 at %d req/s" % rate, "ms", samples["list99"],
              better="lower")
        r.add("api", "achieved request rate", "req/s", samples["rate"],
              note="late sends (>10 ms after their slot): %s" % samples["late"])
        r.add("api", "coordinator CPU for submit + load", "CPU-s", samples["coord_cpu"],
              better="lower")

    # ------------------------------------------------------------------- e2e
    def emulator_cmd(self, port, state_dir):
        return [os.path.join(self.bin, "openai-emulator"), "--listen", "127.0.0.1:%d" % port,
                "--state_dir", state_dir, "--validate_ms", "0", "--in_progress_ms", "0",
                "--finalize_ms", "0"]

    def worker_cmd(self, db_url, input_root, storage_root, emulator_port):
        return [os.path.join(self.bin, "batchscribe-worker"), "--database_url", db_url,
                "--input_root", input_root, "--storage_root", storage_root,
                "--openai_base_url", "http://127.0.0.1:%d/v1" % emulator_port,
                "--metrics_port", "0", "--poll_interval_ms", "100", "--batch_poll_min_ms", "50",
                "--batch_poll_max_ms", "200", "--log_level", "warn"]

    def bench_e2e(self):
        client = self.have("bench-api")
        needed = [self.have(b) for b in ("batchscribe-coordinator", "batchscribe-worker",
                                         "openai-emulator")]
        count, size = self.p["e2e_count"], self.p["e2e_size"]
        corpus = self.corpus("e2e", count, size)
        # Until a run of ours has produced the real output files: transcripts
        # the size of the corpus's text layer (3 pages of ~700 characters).
        output = self.output_file(count, page_chars=700)
        files = self.pdfs(corpus)
        self.warm(files)
        input_root = os.path.dirname(corpus)
        names = ("coordinator", "worker-1", "worker-2", "emulator", "postgres")
        samples = {k: [] for k in ("ours", "seed", "seed_prepare", "seed_retrieve", "ours_cpu",
                                   "seed_cpu") + names}
        for run in range(self.args.runs):
            log("e2e run %d/%d (%d x %d KB)" % (run + 1, self.args.runs, count, size // 1000))
            if client and all(needed):
                db_url = self.fresh_database("bench_e2e")
                storage = self.scratch("e2e-storage")
                state = self.scratch("e2e-emulator")
                cport, eport = self.free_port(), self.free_port()
                ccmd = self.coordinator_cmd(cport, db_url, input_root, storage)
                subprocess.run(ccmd + ["--migrate_only"], check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                pg_before = self.postgres_cpu()
                self.start("emulator", self.emulator_cmd(eport, state), port=eport)
                self.start("coordinator", ccmd, port=cport)
                key = {"OPENAI_API_KEY": "sk-bench-not-a-secret"}
                for w in ("worker-1", "worker-2"):
                    self.start(w, self.worker_cmd(db_url, input_root, storage, eport), env=key)
                server = "127.0.0.1:%d" % cport
                start = time.monotonic()
                m = measure([client, "submit", "--server", server, "--count", str(count),
                             "--directory", os.path.basename(corpus)])
                batch = m.result["batch"]
                m = measure([client, "wait", "--server", server, "--batch", batch,
                             "--timeout_s", "7200"], check=False)
                elapsed = time.monotonic() - start
                cpu = self.stop_all()
                # Let the backends of the closed connections exit and be reaped,
                # so their CPU shows in the postmaster's children time.
                time.sleep(1)
                cpu["postgres"] = self.postgres_cpu() - pg_before
                if m.returncode != 0 or m.result.get("succeeded") != count:
                    self.notes.append("e2e run %d did not succeed fully: %s" % (run + 1,
                                                                                m.result))
                samples["ours"].append(count / elapsed)
                for name in names:
                    samples[name].append(cpu.get(name, 0) * 1000 / count)
                # batchscribe's own CPU: everything but the emulator (OpenAI's side).
                samples["ours_cpu"].append(sum(cpu.get(n, 0) for n in names
                                               if n != "emulator") * 1000 / count)
                # The seed's retrieve then reads exactly what the emulator answered.
                outputs = sorted(glob.glob(os.path.join(storage, "batches", "*", "shards", "*",
                                                        "output.jsonl")))
                if outputs:
                    output = os.path.join(self.work, "corpus", "e2e-output.jsonl")
                    with open(output, "wb") as out:
                        for path in outputs:
                            with open(path, "rb") as f:
                                shutil.copyfileobj(f, out)
                shutil.rmtree(storage, ignore_errors=True)
            seed = os.path.join(HERE, "seed_reference.py")
            shard = os.path.join(self.scratch("e2e-seed"), "input.jsonl")
            m1 = measure([PYTHON, seed, "prepare", "--input", corpus, "--out", shard])
            os.remove(shard)
            m2 = measure([PYTHON, seed, "retrieve", "--output", output, "--storage",
                          self.scratch("e2e-seed-storage")])
            samples["seed_prepare"].append(m1.wall_s)
            samples["seed_retrieve"].append(m2.wall_s)
            samples["seed"].append(count / (m1.wall_s + m2.wall_s))
            samples["seed_cpu"].append((m1.user_s + m1.sys_s + m2.user_s + m2.sys_s) * 1000 / count)
        shutil.rmtree(os.path.join(self.work, "scratch"), ignore_errors=True)
        r = self.report
        label = "%d x %d KB" % (count, size // 1000)
        if samples["ours"]:
            self.psql("DROP DATABASE IF EXISTS bench_e2e WITH (FORCE)")
            r.add("e2e", "coordinator + 2 workers + emulator, " + label, "documents/s",
                  samples["ours"], compare=samples["seed"],
                  compare_name="seed Python prepare + retrieve alone",
                  target=lambda row: row.get("ratio", 0) >= 5, target_text=">= 5x Python")
            r.add("e2e", "CPU per 1,000 documents: coordinator + workers + postgres", "CPU-s",
                  samples["ours_cpu"], better="lower", compare=samples["seed_cpu"],
                  compare_name="seed Python prepare + retrieve alone")
            for name in names:
                r.add("e2e", "CPU per 1,000 documents: " + name, "CPU-s", samples[name],
                      better="lower")
        else:
            r.add("e2e", "seed Python prepare + retrieve, " + label, "documents/s",
                  samples["seed"])

    def db_url(self, database):
        url = self.args.pg_url
        scheme = url.find("://")
        slash = url.find("/", scheme + 3)
        query = url.find("?", slash)
        rest = "" if query < 0 else url[query:]
        return url[:slash + 1] + database + rest

    # ------------------------------------------------------------------- run
    def run(self, which):
        started = datetime.datetime.now(datetime.timezone.utc)
        for name in which:
            self.load[name] = {"before": loadavg()}
            getattr(self, "bench_" + name)()
            self.load[name]["after"] = loadavg()
        result = {
            "profile": self.args.profile,
            "runs": self.args.runs,
            "started": started.isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "machine": machine(),
            "load_average_1m": self.load,
            "sizes": self.p,
            "rows": self.report.rows,
            "notes": self.notes,
        }
        os.makedirs(os.path.dirname(self.args.out), exist_ok=True)
        with open(self.args.out, "w") as f:
            json.dump(result, f, indent=2)
        m = result["machine"]
        print()
        print("batchscribe benchmarks, profile %s, median of %d runs, commit %s" % (
            self.args.profile, self.args.runs, result["git_commit"]))
        print("machine: %d cores, %s, %.1f GiB RAM; 1-min load average during the runs: %s" % (
            m["nproc"], m["cpu_model"], m["ram_gib"],
            ", ".join("%s %.1f-%.1f" % (k, v["before"], v["after"]) for k, v in self.load.items())))
        print()
        print(table(self.report.rows))
        print("ratio = batchscribe / compared value (for times and sizes, lower is better)")
        for note in self.notes:
            print("note: " + note)
        print("\nJSON: " + self.args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True, help="build folder with bin/")
    parser.add_argument("--pg_url", required=True, help="superuser URL of a throwaway cluster")
    parser.add_argument("--pg_dir", required=True, help="its folder (data/postmaster.pid)")
    parser.add_argument("--work", required=True, help="folder for corpora and scratch files")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="prepare,retrieve,queue,api,e2e",
                        help="comma list of benchmarks")
    parser.add_argument("--out", default=os.path.join(HERE, "out", "results.json"))
    args = parser.parse_args()
    which = [w for w in args.only.split(",") if w]
    for w in which:
        if not hasattr(Bench, "bench_" + w):
            parser.error("unknown benchmark " + w)
    bench = Bench(args)
    try:
        bench.run(which)
    finally:
        bench.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Runs bench_store_engines (bench/store_engines.c) for docs/persistence.md.

usage: bench/store_engines.py BUILD_DIR DATA_DIR [--reps 3] [--seconds 3] [--restart 1000000]
                               [--parts loop,fsync,restart]

DATA_DIR must be on the real disk (not tmpfs). Prints markdown tables of the medians
of --reps runs: the loop for B = 1, 8, 32, 256 per engine, fsyncs per commit
(strace -c -f, once per engine, B = 8, 2000 turns) and the restart (open + read
back --restart rows, cold page cache).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

ENGINES = ("sqlite", "lmdb")
BATCHES = (1, 8, 32, 256)


def run(cmd):
    out = subprocess.run(["nice", "-n", "10", *cmd], check=True, capture_output=True,
                         text=True).stdout
    return dict(kv.split("=", 1) for kv in out.split())


def fsyncs(prog, engine, data_dir):
    turns = 2000
    r = subprocess.run(["nice", "-n", "10", "strace", "-f", "-c", "-e",
                        "trace=fsync,fdatasync,msync,sync_file_range", prog, "--engine",
                        engine, "--dir", os.path.join(data_dir, engine), "--batch", "8",
                        "--turns", str(turns)], check=True, capture_output=True, text=True)
    res = dict(kv.split("=", 1) for kv in r.stdout.split())
    calls = {}
    for line in r.stderr.splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
        if m and m.group(2) != "total":
            calls[m.group(2)] = int(m.group(1))
    return int(res["commits"]), calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("data")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", default="3")
    ap.add_argument("--restart", default="1000000")
    ap.add_argument("--parts", default="loop,fsync,restart")
    a = ap.parse_args()
    prog = os.path.join(a.build, "bench_store_engines")
    med = statistics.median
    if "loop" in a.parts:
        loop(a, prog, med)
    if "fsync" in a.parts:
        fsync_table(a, prog)
    if "restart" in a.parts:
        restart(a, prog, med)
    return 0


def loop(a, prog, med):
    print("| engine | B | commits/s | rows/s | CPU µs/row | files after (bytes) |")
    print("|--------|--:|----------:|-------:|-----------:|--------------------:|")
    for b in BATCHES:
        for e in ENGINES:
            rs = [run([prog, "--engine", e, "--dir", os.path.join(a.data, e), "--batch",
                       str(b), "--seconds", a.seconds]) for _ in range(a.reps)]
            f = lambda k: med(float(r[k]) for r in rs)
            print(f"| {e} | {b} | {f('commits_per_s'):,.0f} | {f('rows_per_s'):,.0f} | "
                  f"{f('cpu_us_per_row'):.2f} | {f('file_bytes'):,.0f} |", flush=True)
    print()


def fsync_table(a, prog):
    print("| engine | commits (B = 8, 2000 turns) | fsync | fdatasync | msync | per commit |")
    print("|--------|--------:|------:|----------:|------:|-----------:|")
    for e in ENGINES:
        commits, c = fsyncs(prog, e, a.data)
        n = sum(c.values())
        print(f"| {e} | {commits} | {c.get('fsync', 0)} | {c.get('fdatasync', 0)} | "
              f"{c.get('msync', 0)} | {n / commits:.2f} |", flush=True)
    print()


def restart(a, prog, med):
    print("| engine | rows | file MB | fill s | open + read s (cold) | CPU s | "
          "open + check + read s (cold) | CPU s |")
    print("|--------|-----:|--------:|-------:|---------------------:|------:|--:|--:|")
    for e in ENGINES:
        rs = [run([prog, "--engine", e, "--dir", os.path.join(a.data, e), "--restart",
                   a.restart]) for _ in range(a.reps)]
        f = lambda k: med(float(r[k]) for r in rs)
        print(f"| {e} | {int(f('rows')):,} | {f('file_bytes') / 1e6:.0f} | {f('fill_s'):.1f} | "
              f"{f('open_read_s'):.3f} | {f('open_read_cpu_s'):.3f} | "
              f"{f('open_check_read_s'):.3f} | {f('open_check_read_cpu_s'):.3f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())

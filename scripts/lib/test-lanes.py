#!/usr/bin/env python3
"""Runs the workspace's test binaries in parallel lanes, longest first.

`cargo test` runs one test binary after another. Most of ours wait on a TCG guest, an
NFS server or a timer rather than on a CPU, and the longest one (the README walkthrough)
spends most of its time in `scripts/run`'s release build; run one after another they took
twice the wall time they need. Test binaries were written to share the machine: each has
its own Postgres cluster, test-bed machines leased by index and name (tests/src/lib.rs),
and the one test that uses the machine's own libvirt refuses to run twice.

Usage: test-lanes.py LANES < cargo-json   (the output of
`cargo test --workspace --no-run --message-format=json`)

Each binary runs in its package's directory, as cargo runs it; its output goes to
target/test-logs/ as it runs and is printed whole when it ends (so lanes do not interleave), then a table of durations. Exit status 1
if any binary failed.
"""

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# Seconds each took in a sequential run (CI, 2 cores), to start the longest first; a
# binary not listed is short. Only the order depends on these.
EXPECTED = {
    "readme_first_vm": 1100,
    "e2e_templates": 400,
    "e2e_isolated_networks": 365,
    "e2e_security_groups": 240,
    "host_add": 142,
    "browser_console": 109,
    "e2e_vms": 105,
    "e2e_ansible_volumes": 85,
    "e2e_ansible_security_groups": 38,
    "deploy": 70,
    "guest_image": 68,
    "e2e_storage": 59,
    "e2e_local": 33,
    "e2e_tenancy": 30,
    "agent_vms": 27,
    "console_proxy": 21,
    "console": 20,
    "e2e_hosts": 19,
    "fuzz": 16,
}


def binaries(stream):
    for line in stream:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg.get("profile", {}).get("test"):
            continue
        target = msg["target"]
        name = target["name"]
        kind = target["kind"][0]
        label = name if kind == "test" else f"{name} ({kind})"
        yield {
            "label": label,
            "name": name,
            "exe": msg["executable"],
            "dir": os.path.dirname(msg["manifest_path"]),
            "package": msg["package_id"],
        }


def main():
    lanes = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    def rustc(*args):
        return subprocess.run(
            ["rustc", *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    host = next(
        line.split(":", 1)[1].strip()
        for line in rustc("-vV").splitlines()
        if line.startswith("host:")
    )
    sysroot_lib = os.path.join(rustc("--print", "sysroot"), "lib", "rustlib", host, "lib")
    # Each binary's output, also while it runs (a hung test can be read here).
    logs = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "test-logs")
    os.makedirs(logs, exist_ok=True)
    todo = sorted(binaries(sys.stdin), key=lambda b: -EXPECTED.get(b["name"], 0))
    print_lock = threading.Lock()
    results = []
    started_all = time.monotonic()

    def run(b):
        started = time.monotonic()
        env = dict(os.environ, CARGO_MANIFEST_DIR=b["dir"])
        # As cargo does: a proc-macro crate's test binary links the toolchain's libstd
        # dynamically, and finds it through the library path.
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in [sysroot_lib, env.get("LD_LIBRARY_PATH", "")] if p
        )
        log_path = os.path.join(logs, os.path.basename(b["exe"]) + ".log")
        with open(log_path, "wb") as log:
            proc = subprocess.run(
                [b["exe"]],
                cwd=b["dir"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        took = time.monotonic() - started
        with print_lock:
            print(f"\n==> {b['label']}: {'ok' if proc.returncode == 0 else 'FAILED'} "
                  f"in {took:.0f} s ({b['exe']})", flush=True)
            with open(log_path, "rb") as log:
                sys.stdout.buffer.write(log.read())
            sys.stdout.flush()
            results.append((b["label"], proc.returncode, took))

    with ThreadPoolExecutor(max_workers=lanes) as pool:
        list(pool.map(run, todo))

    wall = time.monotonic() - started_all
    print(f"\n==> {len(results)} test binaries in {lanes} lanes, {wall:.0f} s wall "
          f"({sum(t for _, _, t in results):.0f} s summed); the longest:")
    for label, rc, took in sorted(results, key=lambda r: -r[2])[:12]:
        print(f"    {took:6.0f} s  {label}{'' if rc == 0 else '  FAILED'}")
    failed = [label for label, rc, _ in results if rc != 0]
    if failed:
        print(f"==> FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

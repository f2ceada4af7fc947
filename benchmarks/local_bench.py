"""Speed and memory of the tap command against a running emulator (issue targets in brackets).

Run from the project directory: ``.venv/bin/python benchmarks/local_bench.py [--runs N]``.
Each figure is the median wall time of N runs of the real console script in a subprocess;
peak memory is the largest resident set of a ``tap up`` process. Prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TAP = str(Path(sys.executable).with_name("tap"))


def run(*args: str, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own console script
        [TAP, *args], env=env, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, done.stdout


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    home = Path(tempfile.mkdtemp(prefix="tap-bench-"))
    env = {
        **os.environ,
        "TAP_HOME": str(home),
        "TAP_OUTPUTS_FILE": str(home / "flat-outputs.json"),
    }
    run("emulator", "start", "--port", "0", env=env)
    endpoint = "http://127.0.0.1:{port}".format(**json.loads((home / "emulator.json").read_text()))
    try:
        preview = [run("preview", env=env)[0] for _ in range(runs)]
        first, peaks = [], []
        for _ in range(runs):
            reset(endpoint)
            shutil.rmtree(home / "state", ignore_errors=True)
            first.append(run("up", "--json", env=env)[0])
        noop, writes, trusting = [], [], []
        for _ in range(runs):
            seconds, out = run("up", "--json", env=env)
            noop.append(seconds)
            writes.append(json.loads(out)["writes"])
            trusting.append(run("up", "--json", "--no-refresh", env=env)[0])
        destroy = []
        for _ in range(runs):
            destroy.append(run("destroy", env=env)[0])
            run("up", env=env)
        reset(endpoint)
        shutil.rmtree(home / "state", ignore_errors=True)
        run("up", env=env)
        # ru_maxrss of children: the largest child so far; every child was a tap command.
        peaks.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    finally:
        run("emulator", "stop", env=env)
        shutil.rmtree(home, ignore_errors=True)

    def show(label: str, values: list[float], target: str) -> None:
        print(
            f"{label:<28} median {statistics.median(values):6.2f} s  "
            f"(runs: {', '.join(f'{v:.2f}' for v in values)})  [target {target}]"
        )

    print(f"tap against the emulator, {runs} runs each, {os.cpu_count()} CPUs")
    show("tap preview", preview, "<= 2 s")
    show("first tap up", first, "<= 8 s")
    show("no-op tap up (refreshes)", noop, "<= 3 s")
    show("no-op tap up --no-refresh", trusting, "-")
    print(f"{'no-op tap up write calls':<28} {writes}  [target 0]")
    show("tap destroy", destroy, "<= 4 s")
    print(f"{'peak memory of tap commands':<28} {max(peaks):6.1f} MB  [target tap up <= 300 MB]")


if __name__ == "__main__":
    main()

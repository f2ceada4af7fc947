"""How long one ``tap run`` of the example service takes, and how much of it is the container
engine's own build and push (issue 13's target in brackets; prints figures, asserts nothing).

    .venv/bin/python benchmarks/run_bench.py

1. A fresh emulator in a temporary tap home (``tap emulator start --port 0``) and the stack
   deployed with ``deployTarget=ecs`` and the example's test command (``tap up``).
2. One ``tap run --source examples/service --json``, timed from the command's start to its
   exit; then the build's phases as CodeBuild reports them (BatchGetBuilds).
3. The engine alone: ``build`` of the example and ``push`` of it to the emulator's registry
   (``127.0.0.1:<port>/<repository>``), the same commands the buildspec runs.

Everything runs on 127.0.0.1; the emulator is stopped on the way out.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tap_cicd.local.emulator import Emulator
from tap_cicd.local.services import containers

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLE = PROJECT / "examples" / "service"
TAP = Path(sys.executable).parent / "tap"
STACK = "bench"
TARGET_SECONDS = 20


def tap(home: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``tap`` in the project directory; its wall time and result."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TAP_"))}
    env |= {"TAP_HOME": str(home), "TAP_OUTPUTS_FILE": str(home / "outputs.json")}
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own command
        [str(TAP), *args], cwd=PROJECT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0 and args[0] != "run":  # a failed run is a figure too
        sys.exit(f"run_bench: tap {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds, done


def clients(home: Path) -> Any:
    """Clients of the benchmark's emulator."""
    return Emulator.clients(Emulator(home).require())


def timed(command: list[str], env: dict[str, str], stdin: str | None = None) -> float:
    """Wall time of one engine command (which must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - the machine's container engine
        command, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"run_bench: {' '.join(command[:2])} failed: {done.stderr.strip()}")
    return time.perf_counter() - started


def engine_alone(home: Path, outputs: dict[str, Any]) -> dict[str, float]:
    """Build the example and push it to the emulator's registry with the engine itself."""
    engine = containers.find()
    token = clients(home)("ecr").get_authorization_token()
    user, password = (
        base64.b64decode(token["authorizationData"][0]["authorizationToken"]).decode().split(":", 1)
    )
    image = f"{outputs['ecrRepositoryUrl']}:bench-{int(time.time())}"
    registry = image.split("/", 1)[0]
    env = {**os.environ, **engine.environment}
    insecure = ["--tls-verify=false"] if engine.name == "podman" else []
    login = [engine.executable, "login", *insecure, "-u", user, "--password-stdin", registry]
    timed(login, env, password)
    # --pull as the buildspec builds (FROM scratch pulls nothing).
    build = timed([engine.executable, "build", "--pull", "-q", "-t", image, str(EXAMPLE)], env)
    push = timed([engine.executable, "push", *insecure, image], env)
    timed([engine.executable, "rmi", image], env)
    return {"build": build, "push": push}


def phases(home: Path, document: dict[str, Any]) -> list[tuple[str, float]]:
    """The Build action's phases and their durations, from their start and end times
    (BatchGetBuilds' ``durationInSeconds`` is whole seconds)."""
    build_id = next(
        a["externalExecutionId"]
        for s in document["stages"]
        for a in s["actions"]
        if s["name"] == "Build"
    )
    [build] = clients(home)("codebuild").batch_get_builds(ids=[build_id])["builds"]
    return [
        (p["phaseType"], (p["endTime"] - p["startTime"]).total_seconds())
        for p in build["phases"]
        if "endTime" in p
    ]


def main() -> None:
    engine = containers.find()  # NoEngine: the one line that says what to install
    with tempfile.TemporaryDirectory(prefix="tap-run-bench-") as directory:
        home = Path(directory)
        try:
            tap(home, "emulator", "start", "--port", "0")
            up_seconds, up = tap(
                home,
                "up",
                "--stack",
                STACK,
                "--json",
                "-c",
                "deployTarget=ecs",
                "-c",
                "testCommand=bash test.sh",
            )
            outputs = json.loads(up.stdout)["outputs"]
            run_seconds, run = tap(
                home, "run", "--stack", STACK, "--source", str(EXAMPLE), "--json"
            )
            document = json.loads(run.stdout)
            print(f"tap up (fresh emulator, deployTarget=ecs): {up_seconds:.2f} s")
            print(
                f"tap run of the example: {run_seconds:.2f} s [target {TARGET_SECONDS} s] "
                f"-> {document['status']} (execution {document['seconds']:.2f} s)"
            )
            for phase, seconds in phases(home, document):
                print(f"  build phase {phase:<18} {seconds:.2f} s")
            alone = engine_alone(home, outputs)
            print(
                f"{engine.name} alone: build {alone['build']:.2f} s, push {alone['push']:.2f} s "
                f"({alone['build'] + alone['push']:.2f} s of the run's {run_seconds:.2f} s)"
            )
        finally:
            tap(home, "emulator", "stop")


if __name__ == "__main__":
    main()

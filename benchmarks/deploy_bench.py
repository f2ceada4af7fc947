"""Speed and memory of the deploy step; prints its figures (targets in brackets, not asserted).

    .venv/bin/python benchmarks/deploy_bench.py [--runs N]

1. Cold-start share: importing ``tap_cicd.deploy.handler`` in a fresh interpreter (median of N).
2. Warm invocation: the full success path (read artifact, verify, gate, tag, record, notify,
   report) against an in-process moto server, CodePipeline replaced by a recorder (median of
   N). The first run tags the digest; the later ones find the tag (one more call). Then the
   first invocation of an ECS rollout (``TAP_DEPLOY_TARGET=ecs``): the same up to the tag,
   then look for the job's revision, describe the template, register, update the service and
   answer with a continuation token.
3. Peak memory: a child process that imports the handler and runs N invocations against the
   same moto server, its peak RSS minus a bare interpreter's.

Nothing leaves the machine: moto listens on 127.0.0.1 and every client points at it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
REPOSITORY = "pipeline-images-dev"
PARAMETER = "/pipeline/dev/release"
BUCKET = "bench-artifacts"
KEY = "bench/build_output.zip"
DIGEST = "sha256:" + "ab" * 32
CLUSTER = "bench"
SERVICE = "bench-app"
TARGETS = {"import": 300.0, "warm": 50.0, "rollout": 50.0, "memory": 128.0}


def child_env(endpoint: str) -> dict[str, str]:
    """Dummy credentials, the local endpoint and the function's variables."""
    return {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "TAP_TOPIC_ARN": f"arn:aws:sns:{REGION}:123456789012:bench",
        "TAP_RELEASE_PARAMETER": PARAMETER,
        "TAP_REPOSITORY_NAME": REPOSITORY,
        "TAP_FAIL_ON_SEVERITY": "HIGH",
        "TAP_ALLOWED_FINDINGS": "CVE-9999-9999",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT / "src"),
    }


def event(execution: int, fresh_credentials: bool = False) -> dict[str, Any]:
    """A job event; a new execution id each time, so every run records and notifies."""
    params = {
        "repositoryName": REPOSITORY,
        "failOnSeverity": "HIGH",
        "imageDigest": DIGEST,
        "pipelineExecutionId": f"bench-{execution}",
    }
    return {
        "CodePipeline.job": {
            "id": f"job-{execution}",
            "data": {
                "actionConfiguration": {"configuration": {"UserParameters": json.dumps(params)}},
                "inputArtifacts": [
                    {
                        "name": "build_output",
                        "location": {
                            "type": "S3",
                            "s3Location": {"bucketName": BUCKET, "objectKey": KEY},
                        },
                    }
                ],
                "artifactCredentials": {
                    "accessKeyId": f"bench{execution}" if fresh_credentials else "bench",
                    "secretAccessKey": "bench",
                    "sessionToken": "bench",
                },
            },
        }
    }


def seed(endpoint: str) -> None:
    """What the stack and the build leave behind."""

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint)

    client("ecr").create_repository(repositoryName=REPOSITORY)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": DIGEST, "size": 1, "mediaType": "application/json"},
        "layers": [],
    }
    client("ecr").put_image(
        repositoryName=REPOSITORY, imageManifest=json.dumps(manifest), imageDigest=DIGEST
    )
    client("ecr").start_image_scan(repositoryName=REPOSITORY, imageId={"imageDigest": DIGEST})
    client("ssm").put_parameter(Name=PARAMETER, Value='{"imageDigest":null}', Type="String")
    client("sns").create_topic(Name="bench")
    client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        uri = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{DIGEST}"
        archive.writestr("imageDetail.json", json.dumps({"ImageURI": uri}))
    client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=buffer.getvalue())


def seed_service(endpoint: str) -> dict[str, str]:
    """The stack's cluster, task definition and service; the function's ``ecs`` variables."""
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=endpoint)
    ecs.create_cluster(clusterName=CLUSTER)
    template = ecs.register_task_definition(
        family=SERVICE,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "app", "image": "public.ecr.aws/nginx/nginx:stable", "essential": True}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition=template, desiredCount=0
    )
    return {
        "TAP_DEPLOY_TARGET": "ecs",
        "TAP_CLUSTER_NAME": CLUSTER,
        "TAP_SERVICE_NAME": SERVICE,
        "TAP_TASK_DEFINITION": template,
        "TAP_CONTAINER_NAME": "app",
        "TAP_DESIRED_COUNT": "1",
    }


class Recorder:
    """Stands in for CodePipeline (moto has no PutJob*Result)."""

    def __init__(self) -> None:
        self.results: list[str] = []

    def put_job_success_result(self, **kwargs: Any) -> None:
        self.results.append("continuation" if "continuationToken" in kwargs else "success")

    def put_job_failure_result(self, **kwargs: Any) -> None:
        self.results.append(f"failure: {kwargs['failureDetails']['message']}")


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def invoke(
    runs: int, offset: int, fresh_credentials: bool = False, expect: str = "success"
) -> list[float]:
    """Run the handler ``runs`` times in this process; milliseconds per invocation."""
    # Imported here: the import is timed on its own, in fresh interpreters.
    from tap_cicd.deploy import handler  # noqa: PLC0415

    recorder = Recorder()
    handler.codepipeline_client = lambda: recorder  # type: ignore[assignment,return-value]
    timings = []
    for i in range(runs):
        started = time.perf_counter()
        handler.handler(event(offset + i, fresh_credentials), Context())
        timings.append((time.perf_counter() - started) * 1000)
    if set(recorder.results) != {expect}:
        raise SystemExit(f"unexpected results: {sorted(set(recorder.results))}")
    return timings


def import_times(runs: int) -> list[float]:
    code = (
        "import time; t = time.perf_counter(); import tap_cicd.deploy.handler; "
        "print((time.perf_counter() - t) * 1000)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return [
        float(subprocess.check_output([sys.executable, "-c", code], env=env, text=True))  # noqa: S603
        for _ in range(runs)
    ]


HIGH_WATER = (
    "import re; status = open('/proc/self/status').read(); "
    "print(int(re.search(r'VmHWM:\\s+(\\d+)', status)[1]) / 1024)"
)
"""Peak RSS in MB. Not ``ru_maxrss``: a forked child inherits its parent's, exec or not."""


def peak_rss_mb(arguments: list[str], env: dict[str, str]) -> float:
    output = subprocess.check_output([sys.executable, *arguments], env=env, text=True)  # noqa: S603 - our own interpreter
    return float(output.strip().splitlines()[-1])


def child(runs: int) -> None:
    """In a fresh process: import, invoke, print the peak RSS in MB."""
    invoke(runs, 10_000, fresh_credentials=True)
    exec(HIGH_WATER)  # noqa: S102 - the constant above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.runs)
        return

    imports = import_times(max(args.runs // 3, 5))

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        env = child_env(endpoint)
        os.environ.update(env)
        sys.path.insert(0, env["PYTHONPATH"])
        seed(endpoint)
        cold = invoke(1, 0)[0]
        warm = invoke(args.runs, 1)
        fresh = invoke(args.runs, 5_000, fresh_credentials=True)
        rollout_env = seed_service(endpoint)
        os.environ.update(rollout_env)
        rollout = invoke(args.runs, 20_000, expect="continuation")
        for name in rollout_env:
            del os.environ[name]
        baseline = peak_rss_mb(["-c", HIGH_WATER], {**os.environ, **env})
        peak = peak_rss_mb([__file__, "--child", "--runs", str(args.runs)], {**os.environ, **env})
    finally:
        server.stop()

    figures = {
        "import": statistics.median(imports),
        "warm": statistics.median(warm),
        "rollout": statistics.median(rollout),
        "memory": peak - baseline,
    }
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs, {args.runs} runs")
    print(
        f"import tap_cicd.deploy.handler  median {figures['import']:7.1f} ms  "
        f"(min {min(imports):.1f}, max {max(imports):.1f})  [<= {TARGETS['import']:.0f} ms]"
    )
    print(f"first invocation (clients made)        {cold:7.1f} ms")
    print(
        f"warm invocation, full success path  median {figures['warm']:7.1f} ms  "
        f"(p90 {statistics.quantiles(warm, n=10)[-1]:.1f})  [<= {TARGETS['warm']:.0f} ms]"
    )
    print(
        "warm invocation, new artifact credentials each time  "
        f"median {statistics.median(fresh):7.1f} ms"
    )
    print(
        f"warm invocation, ECS rollout start  median {figures['rollout']:7.1f} ms  "
        f"(p90 {statistics.quantiles(rollout, n=10)[-1]:.1f})  [<= {TARGETS['rollout']:.0f} ms]"
    )
    print(
        f"peak RSS {peak:.1f} MB, bare interpreter {baseline:.1f} MB, "
        f"difference {figures['memory']:.1f} MB  [< {TARGETS['memory']:.0f} MB]"
    )
    for name, value in figures.items():
        if value > TARGETS[name]:
            print(f"over target: {name}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Static checks of the deployment files, for a machine with no Docker engine.

Reads deploy/docker-compose.yaml, deploy/Dockerfile and the Triton model
repository and fails, naming the problem, when:
  - the compose file does not parse, or a service lacks a pinned image (the one
    built here excepted), a health check or a restart policy;
  - a dependency, a named volume or a bind-mounted file does not exist;
  - a stateful service keeps its data outside a named volume;
  - the Dockerfile is not multi-stage, runs as root, copies a path the
    repository lacks, or has no health check;
  - a Triton configuration names another model than its folder, or a model
    whose ONNX file is missing from models/.

Run from anywhere: python3 tests/tools/check_deploy.py
"""

import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Where each stateful image keeps its data.
STATE = {
    "mariadb": "/var/lib/mysql",
    "redis": "/data",
    "milvus": "/var/lib/milvus",
    "etcd": "/etcd",
    "minio": "/minio_data",
    "facebank": "/var/lib/facebank",
}

problems = []


def problem(text):
    problems.append(text)


def check_compose():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
    services = compose.get("services") or {}
    volumes = set((compose.get("volumes") or {}).keys())
    if not services:
        problem("compose: no services")
    for name in ("facebank", "triton", "mariadb", "redis", "milvus", "etcd", "minio"):
        if name not in services:
            problem(f"compose: no service {name}")

    for name, service in services.items():
        image = service.get("image", "")
        if "build" not in service:
            tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
            if not tag or tag == "latest":
                problem(f"compose: {name}: image {image!r} is not pinned to a version")
        check = service.get("healthcheck", {}).get("test")
        if not check or check[0] not in ("CMD", "CMD-SHELL"):
            problem(f"compose: {name}: no health check")
        if service.get("restart") is None:
            problem(f"compose: {name}: no restart policy")
        for dependency, condition in (service.get("depends_on") or {}).items():
            if dependency not in services:
                problem(f"compose: {name} depends on the unknown service {dependency}")
            elif condition.get("condition") == "service_healthy" and "healthcheck" not in services[dependency]:
                problem(f"compose: {name} waits for {dependency}, which has no health check")

        mounts = {}
        for mount in service.get("volumes") or []:
            source, target = mount.split(":")[:2]
            mounts[target] = source
            if source.startswith((".", "/")):
                path = (DEPLOY / source).resolve()
                if not path.exists():
                    problem(f"compose: {name} mounts {source}, which does not exist")
            elif source not in volumes:
                problem(f"compose: {name} mounts the undeclared volume {source}")
        if name in STATE:
            source = mounts.get(STATE[name])
            if source is None or source not in volumes:
                problem(f"compose: {name} keeps {STATE[name]} outside a named volume")

    build = services.get("facebank", {}).get("build", {})
    dockerfile = (DEPLOY / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()
    if dockerfile != DEPLOY / "Dockerfile":
        problem(f"compose: facebank is built from {dockerfile}, not deploy/Dockerfile")


def check_dockerfile():
    lines = []
    for line in (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    stages = [line for line in lines if line.upper().startswith("FROM ")]
    if len(stages) < 2:
        problem("Dockerfile: not a multi-stage build")
    for stage in stages:
        if not re.search(r":[\w.-]+", stage.split()[1]) or stage.split()[1].endswith(":latest"):
            problem(f"Dockerfile: unpinned base image in {stage!r}")
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problem("Dockerfile: the runtime image runs as root")
    if not any(line.upper().startswith("HEALTHCHECK ") for line in lines):
        problem("Dockerfile: no HEALTHCHECK")
    for line in lines:
        words = line.split()
        if words[0].upper() == "COPY" and not any(w.startswith("--from") for w in words):
            for source in words[1:-1]:
                if not (ROOT / source).exists():
                    problem(f"Dockerfile: COPY of {source}, which the repository lacks")


def check_triton_repository():
    folders = sorted(p for p in (DEPLOY / "triton" / "models").iterdir() if p.is_dir())
    if not folders:
        problem("triton: no model configurations")
    for folder in folders:
        config = (folder / "config.pbtxt").read_text()
        named = re.search(r'^\s*name\s*:\s*"([^"]+)"', config, re.M)
        if not named or named.group(1) != folder.name:
            problem(f"triton: {folder.name}/config.pbtxt names {named and named.group(1)!r}")
        if not re.search(r'^\s*backend\s*:\s*"onnxruntime"', config, re.M):
            problem(f"triton: {folder.name} does not use the onnxruntime backend")
        if "dynamic_batching" not in config and not re.search(r"max_batch_size\s*:\s*0\b", config):
            problem(f"triton: {folder.name} batches but has no dynamic_batching")
        if not (ROOT / "models" / f"{folder.name}.onnx").is_file():
            problem(f"triton: models/{folder.name}.onnx is missing")


check_compose()
check_dockerfile()
check_triton_repository()
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print("deployment files: compose, Dockerfile and Triton repository check out")

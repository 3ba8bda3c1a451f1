"""A real facebank server for the tests, and a client connected to it."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from facebank_client import FacebankClient, pb
from photos import ANGELINA, REPO_ROOT

STARTUP_TIMEOUT_S = 60.0


def _server_environment() -> dict[str, str]:
    # The server reads every FACEBANK_* variable as configuration and refuses
    # unknown ones, FACEBANK_BIN included.
    return {name: value for name, value in os.environ.items() if name != "FACEBANK_BIN"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(address: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with grpc.insecure_channel(address) as channel:
        # typeshed's stub for HealthStub declares no methods.
        health: Any = health_pb2_grpc.HealthStub(channel)
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode}")
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"not serving after {STARTUP_TIMEOUT_S} s")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def server_address() -> Iterator[str]:
    """Starts the facebank binary (FACEBANK_BIN, default target/release/facebank)
    on a free port with an empty data directory; stops it after the tests."""
    binary = REPO_ROOT / os.environ.get("FACEBANK_BIN", "target/release/facebank")
    address = f"127.0.0.1:{_free_port()}"

    with tempfile.TemporaryDirectory(prefix="facebank-py-") as data_dir:
        log_path = Path(data_dir) / "server.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [binary, "serve", "--listen", address],
                cwd=REPO_ROOT,
                env={**_server_environment(), "FACEBANK_DATA_DIR": data_dir},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            try:
                _wait_until_serving(address, server)
            except Exception as error:
                output = log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"facebank ({binary}) did not start: {error}\n{output}") from error
            yield address
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture(scope="session")
def facebank(server_address: str) -> Iterator[FacebankClient]:
    with FacebankClient(server_address, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def angelina(facebank: FacebankClient) -> pb.Person:
    """Angelina, registered from two photos."""
    return facebank.register(ANGELINA, name="Angelina").person

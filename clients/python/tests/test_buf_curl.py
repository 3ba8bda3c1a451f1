"""`buf curl` needs no proto file: it reads the API from the server's reflection."""

from __future__ import annotations

import base64
import json
import os
import subprocess

from facebank_client import pb
from photos import REPO_ROOT, photo

# Installed by scripts/gen-clients (npm package @bufbuild/buf, package-lock.json).
BUF = os.environ.get("BUF_BIN", str(REPO_ROOT / "clients/typescript/node_modules/.bin/buf"))


def test_buf_curl_recognizes_a_registered_person_through_reflection(
    server_address: str, angelina: pb.Person
) -> None:
    request = {
        "image": {"content": base64.b64encode(photo("faces/deepface_angelina/3.jpg").read_bytes()).decode()},
        "topK": 3,
    }

    result = subprocess.run(
        [
            BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", "@-",
            f"http://{server_address}/facebank.v1.FaceService/Recognize",
        ],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert len(reply["faces"]) == 1
    assert reply["faces"][0]["matches"][0]["person"]["id"] == angelina.id

"""The REST gateway against a real facebank server (the release binary) with
the gateway switched on: a person registered from real photos and recognised
over HTTP, the error mapping, the OpenAPI document validated, and a
property-based run of schemathesis that must find no server error.

Run by scripts/test-gateway (which installs pytest, schemathesis and
openapi-spec-validator); FACEBANK_BIN names the binary.
"""

import base64
import json
import os
import pathlib
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
BINARY = pathlib.Path(os.environ.get("FACEBANK_BIN", ROOT / "target" / "release" / "facebank"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A facebank process with its gRPC and gateway ports on loopback."""

    def __init__(self):
        self.data = tempfile.TemporaryDirectory()
        self.grpc_port, self.http_port = free_port(), free_port()
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("FACEBANK_")
        }
        environment.update(
            FACEBANK_DATA_DIR=self.data.name,
            FACEBANK_LISTEN=f"127.0.0.1:{self.grpc_port}",
            FACEBANK_GATEWAY__LISTEN=f"127.0.0.1:{self.http_port}",
            RUST_LOG="warn",
        )
        self.log = open(pathlib.Path(self.data.name) / "server.log", "wb")
        self.process = subprocess.Popen(
            [str(BINARY), "serve"], env=environment, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.base = f"http://127.0.0.1:{self.http_port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"facebank exited: {self.read_log()}")
            try:
                urllib.request.urlopen(self.base + "/openapi.json", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the gateway did not answer within 60 s")

    def read_log(self):
        self.log.flush()
        return (pathlib.Path(self.data.name) / "server.log").read_text(errors="replace")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        self.data.cleanup()

    def call(self, method, path, body=None, content_type="application/json", raw=None):
        """Returns (HTTP status, decoded JSON body)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=120) as reply:
                return reply.status, json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                raise AssertionError(f"{method} {path}: {error.code} with a non-JSON body {text!r}")


@pytest.fixture(scope="module")
def server():
    server = Server()
    yield server
    server.stop()


def image(relative):
    return {"content": base64.b64encode((DATA / relative).read_bytes()).decode()}


def multipart(fields, files):
    """A multipart/form-data body: fields {name: text}, files [(name, filename, bytes)]."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, text in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode()
        )
    for name, filename, content in files:
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def faceless_png():
    """A 64 x 48 grey gradient: a valid photo with no face in it."""
    width, height = 64, 48
    rows = b"".join(b"\x00" + bytes((x * 4) % 256 for x in range(width)) for _ in range(height))

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def reason(body):
    for detail in body.get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return detail["reason"]
    return None


def test_register_recognise_verify_update_and_delete_over_http(server):
    status, created = server.call(
        "POST",
        "/v1/faces",
        {
            "newPerson": {"name": "Angelina", "attributes": {"team": "blue"}},
            "images": [image("faces/deepface_angelina/1.jpg"), image("faces/deepface_angelina/2.jpg")],
        },
    )
    assert status == 200, created
    person = created["person"]
    assert person["name"] == "Angelina" and person["faceCount"] == 2
    assert len(created["faces"]) == 2 and created["rejected"] == []

    # A third photo of her, as a multipart upload, on the person's own path.
    body, content_type = multipart(
        {"faceSelection": "FACE_SELECTION_LARGEST"},
        [("images", "3.jpg", (DATA / "faces/deepface_angelina/3.jpg").read_bytes())],
    )
    status, added = server.call("POST", f"/v1/persons/{person['id']}/faces", raw=body, content_type=content_type)
    assert status == 200, added
    assert added["person"]["faceCount"] == 3

    status, recognised = server.call(
        "POST", "/v1/recognize", {"image": image("faces/deepface_angelina/4.jpg"), "topK": 3}
    )
    assert status == 200, recognised
    [face] = recognised["faces"]
    assert face["matches"][0]["person"]["id"] == person["id"]
    assert face["matches"][0]["similarity"] >= recognised["threshold"]
    assert len(face["detection"]["landmarks"]) == 5

    body, content_type = multipart({}, [("image", "jack.jpg", (DATA / "faces/deepface_jack/1.jpg").read_bytes())])
    status, stranger = server.call("POST", "/v1/recognize", raw=body, content_type=content_type)
    assert status == 200, stranger
    assert len(stranger["faces"]) == 1 and stranger["faces"][0]["matches"] == []

    status, same = server.call(
        "POST", "/v1/verify", {"image": image("faces/deepface_angelina/4.jpg"), "personId": person["id"]}
    )
    assert status == 200 and same["samePerson"] is True, same
    status, other = server.call(
        "POST",
        "/v1/verify",
        {"image": image("faces/deepface_angelina/4.jpg"), "otherImage": image("faces/deepface_jack/1.jpg")},
    )
    assert status == 200 and other["samePerson"] is False, other

    status, detected = server.call("POST", "/v1/detect", {"image": image("scenes/insightface_t1.jpg")})
    assert status == 200 and len(detected["faces"]) == 6, detected

    status, updated = server.call(
        "PATCH", f"/v1/persons/{person['id']}?updateMask=city", {"city": "Los Angeles", "name": "ignored"}
    )
    assert status == 200, updated
    assert updated["person"]["city"] == "Los Angeles" and updated["person"]["name"] == "Angelina"
    status, fetched = server.call("GET", f"/v1/persons/{person['id']}")
    assert status == 200 and fetched["person"]["city"] == "Los Angeles"

    status, listed = server.call("GET", "/v1/persons?pageSize=10")
    assert status == 200 and [p["id"] for p in listed["persons"]] == [person["id"]]
    status, faces = server.call("GET", f"/v1/persons/{person['id']}/faces")
    assert status == 200 and len(faces["faces"]) == 3
    status, _ = server.call("DELETE", f"/v1/faces/{faces['faces'][0]['id']}")
    assert status == 200

    status, deleted = server.call("DELETE", f"/v1/persons/{person['id']}")
    assert status == 200 and deleted["deletedFaces"] == 2, deleted
    status, gone = server.call("GET", f"/v1/persons/{person['id']}")
    assert status == 404 and reason(gone) == "PERSON_NOT_FOUND", gone
    status, after = server.call("POST", "/v1/recognize", {"image": image("faces/deepface_angelina/4.jpg")})
    assert status == 200 and after["faces"][0]["matches"] == []


def test_errors_carry_the_grpc_code_reason_and_field(server):
    # A photo with no face: 400 with the same reason as over gRPC.
    status, body = server.call(
        "POST",
        "/v1/verify",
        {"image": {"content": base64.b64encode(faceless_png()).decode()}, "otherImage": image("faces/deepface_jack/1.jpg")},
    )
    assert status == 400 and body["code"] == 3 and reason(body) == "NO_FACE", body

    status, body = server.call("POST", "/v1/recognize", {"image": {"content": base64.b64encode(b"not a photo").decode()}})
    assert status == 400 and reason(body) in ("UNSUPPORTED_IMAGE", "CORRUPT_IMAGE"), body

    status, body = server.call("POST", "/v1/persons", {"name": "A", "externalId": "dup-1"})
    assert status == 200, body
    status, body = server.call("POST", "/v1/persons", {"name": "B", "externalId": "dup-1"})
    assert status == 409 and reason(body) == "EXTERNAL_ID_TAKEN", body

    status, body = server.call("POST", "/v1/recognize", {"image": image("faces/deepface_jack/1.jpg"), "topK": -1})
    assert status == 400 and reason(body) == "INVALID_FIELD", body
    violations = [d for d in body["details"] if d["@type"].endswith("BadRequest")][0]["fieldViolations"]
    assert violations[0]["field"] == "top_k", body

    # Malformed bodies never reach the service, and say why.
    status, body = server.call("POST", "/v1/recognize", raw=b"{not json", content_type="application/json")
    assert status == 400 and "JSON" in body["message"], body
    status, body = server.call("POST", "/v1/recognize", {"image": image("faces/deepface_jack/1.jpg"), "colour": 1})
    assert status == 400 and reason(body) == "INVALID_FIELD", body
    status, body = server.call("POST", "/v1/recognize", raw=b"x", content_type="text/plain")
    assert status == 415, body
    status, body = server.call("POST", "/v1/persons", {"name": "C"}, content_type="application/json")
    assert status == 200, body
    body_bytes, content_type = multipart({"name": "D"}, [])
    status, body = server.call("POST", "/v1/persons", raw=body_bytes, content_type=content_type)
    assert status == 415, body

    status, body = server.call("GET", "/v1/nothing-here")
    assert status == 404 and body["code"] == 5, body
    status, body = server.call("PUT", "/v1/recognize", {})
    assert status == 405 and body["code"] == 12, body
    status, body = server.call("GET", "/v1/persons/not-a-uuid")
    assert status == 400 and reason(body) == "INVALID_FIELD", body

    # A request naming a resource both in its path and otherwise must name the
    # same one; the same id twice is fine.
    first = server.call("POST", "/v1/persons", {"name": "First"})[1]["person"]
    second = server.call("POST", "/v1/persons", {"name": "Second"})[1]["person"]
    status, body = server.call("PATCH", f"/v1/persons/{first['id']}", {"id": second["id"], "name": "Hijack"})
    assert status == 400 and reason(body) == "INVALID_FIELD", body
    status, body = server.call("GET", f"/v1/persons/{first['id']}?id={second['id']}")
    assert status == 400 and reason(body) == "INVALID_FIELD", body
    status, body = server.call("POST", f"/v1/persons/{first['id']}/faces", {"personId": second["id"], "images": [image("faces/deepface_jack/1.jpg")]})
    assert status == 400 and reason(body) == "INVALID_FIELD", body
    for who in (first, second):
        status, body = server.call("GET", f"/v1/persons/{who['id']}")
        assert status == 200 and body["person"]["name"] == who["name"] and body["person"]["faceCount"] == 0, body
    status, body = server.call("PATCH", f"/v1/persons/{first['id']}", {"id": first["id"], "name": "Renamed"})
    assert status == 200 and body["person"]["name"] == "Renamed", body


def test_collections_over_http(server):
    status, created = server.call("POST", "/v1/collections", {"name": "gateway_staff", "threshold": 0.9})
    assert status == 200 and created["collection"]["name"] == "gateway_staff", created
    assert created["collection"]["model"]["dimension"] == 128, created
    status, body = server.call("POST", "/v1/collections", {"name": "gateway_staff"})
    assert status == 409 and reason(body) == "COLLECTION_EXISTS", body
    status, body = server.call("POST", "/v1/collections", {"name": "Not Valid"})
    assert status == 400 and reason(body) == "INVALID_FIELD", body

    status, registered = server.call(
        "POST",
        "/v1/faces",
        {
            "newPerson": {"name": "Jack", "collection": "gateway_staff"},
            "images": [image("faces/deepface_jack/1.jpg")],
        },
    )
    assert status == 200 and registered["person"]["collection"] == "gateway_staff", registered
    status, found = server.call(
        "POST", "/v1/recognize", {"image": image("faces/deepface_jack/2.jpg"), "collection": "gateway_staff"}
    )
    assert status == 200 and found["faces"][0]["matches"][0]["person"]["name"] == "Jack", found
    assert abs(found["threshold"] - 0.9) < 1e-6, found
    status, elsewhere = server.call("POST", "/v1/recognize", {"image": image("faces/deepface_jack/2.jpg")})
    assert status == 200 and not elsewhere["faces"][0].get("matches"), elsewhere
    status, listed = server.call("GET", "/v1/persons?collection=gateway_staff")
    assert status == 200 and [p["name"] for p in listed["persons"]] == ["Jack"], listed

    status, body = server.call("DELETE", "/v1/collections/gateway_staff")
    assert status == 400 and reason(body) == "COLLECTION_NOT_EMPTY", body
    status, body = server.call("DELETE", "/v1/collections/gateway_staff?deletePersons=true")
    assert status == 200 and body["deletedPersons"] == 1, body
    status, body = server.call("GET", "/v1/collections/gateway_staff")
    assert status == 404 and reason(body) == "COLLECTION_NOT_FOUND", body
    status, body = server.call("GET", f"/v1/persons/{registered['person']['id']}")
    assert status == 404, body


def test_the_openapi_document_validates_and_lists_every_route(server):
    from openapi_spec_validator import validate

    with urllib.request.urlopen(server.base + "/openapi.json") as reply:
        assert reply.headers["Content-Type"] == "application/json"
        document = json.load(reply)
    validate(document)
    operations = {
        (method.upper(), path): operation["operationId"]
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert operations == {
        ("POST", "/v1/collections"): "CreateCollection",
        ("GET", "/v1/collections"): "ListCollections",
        ("GET", "/v1/collections/{name}"): "GetCollection",
        ("DELETE", "/v1/collections/{name}"): "DeleteCollection",
        ("POST", "/v1/persons"): "CreatePerson",
        ("GET", "/v1/persons"): "ListPersons",
        ("GET", "/v1/persons/{id}"): "GetPerson",
        ("PATCH", "/v1/persons/{id}"): "UpdatePerson",
        ("DELETE", "/v1/persons/{id}"): "DeletePerson",
        ("POST", "/v1/persons/{personId}/faces"): "RegisterFacesByPersonId",
        ("GET", "/v1/persons/{personId}/faces"): "ListFaces",
        ("POST", "/v1/faces"): "RegisterFaces",
        ("DELETE", "/v1/faces/{id}"): "DeleteFace",
        ("POST", "/v1/recognize"): "Recognize",
        ("POST", "/v1/verify"): "Verify",
        ("POST", "/v1/detect"): "Detect",
    }
    recognize = document["components"]["schemas"]["facebank_v1_RecognizeRequest"]["properties"]
    assert set(recognize) == {"image", "maxFaces", "topK", "minSimilarity", "collection"}


def test_schemathesis_finds_no_server_error(server):
    """Property-based requests generated from /openapi.json: valid and invalid
    bodies, parameters and uploads. Any 5xx answer fails the run."""
    st = pathlib.Path(os.environ.get("SCHEMATHESIS", "st"))
    examples = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100")
    command = [
        str(st), "run", server.base + "/openapi.json",
        "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", examples,
        "--workers", "2",
        "--request-timeout", "60",
        "--suppress-health-check", "all",
        "--seed", "20261204",
        "--no-color",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900)
    print(run.stdout[-6000:])
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:] + server.read_log()[-4000:]

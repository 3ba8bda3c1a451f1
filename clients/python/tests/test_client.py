"""The Python client against a real facebank server and real photos."""

from __future__ import annotations

import uuid

import grpc
import pytest

from facebank_client import FacebankClient, InvalidArgumentError, NotFoundError, pb
from photos import faceless, photo


def test_registers_a_new_person_with_one_face_from_each_of_two_photos(angelina: pb.Person) -> None:
    assert angelina.name == "Angelina"
    assert angelina.face_count == 2
    assert angelina.id


def test_adds_a_photo_to_an_existing_person_by_id(facebank: FacebankClient) -> None:
    jack = facebank.register([photo("faces/deepface_jack/1.jpg")], name="Jack").person

    reply = facebank.register([photo("faces/deepface_jack/2.jpg")], person_id=jack.id)

    assert reply.person.id == jack.id
    assert reply.person.face_count == 2
    assert list(reply.rejected) == []


def test_recognises_another_photo_of_a_registered_person_as_that_person(
    facebank: FacebankClient, angelina: pb.Person
) -> None:
    reply = facebank.recognize(photo("faces/deepface_angelina/3.jpg"), top_k=3)

    assert len(reply.faces) == 1
    best = reply.faces[0].matches[0]
    assert best.person.id == angelina.id
    assert best.similarity >= reply.threshold


def test_verifies_two_photos_of_the_same_person_as_the_same_person(facebank: FacebankClient) -> None:
    reply = facebank.verify(
        photo("faces/deepface_angelina/3.jpg"), other_photo=photo("faces/deepface_angelina/4.jpg")
    )

    assert reply.same_person, reply.similarity


def test_verifies_photos_of_two_different_persons_as_different(facebank: FacebankClient) -> None:
    reply = facebank.verify(
        photo("faces/deepface_angelina/4.jpg"), other_photo=photo("faces/deepface_jack/1.jpg")
    )

    assert not reply.same_person, reply.similarity


def test_verifies_a_photo_against_a_registered_person(
    facebank: FacebankClient, angelina: pb.Person
) -> None:
    reply = facebank.verify(photo("faces/deepface_angelina/4.jpg"), person_id=angelina.id)

    assert reply.same_person, reply.similarity
    assert reply.matched_face_id


def test_detects_the_six_faces_of_a_group_photo(facebank: FacebankClient) -> None:
    reply = facebank.detect(photo("scenes/insightface_t1.jpg"))

    assert len(reply.faces) == 6
    assert all(len(face.landmarks) == 5 for face in reply.faces)


def test_lists_the_registered_persons_across_pages(
    facebank: FacebankClient, angelina: pb.Person
) -> None:
    ids = [person.id for person in facebank.list_persons(page_size=1)]

    assert angelina.id in ids
    assert len(ids) == len(set(ids))


def test_streams_frames_and_gets_one_reply_per_frame_in_order_with_the_frame_ids(
    facebank: FacebankClient, angelina: pb.Person
) -> None:
    names = ["faces/deepface_angelina/3.jpg", "faces/deepface_jack/3.jpg", "faces/deepface_angelina/4.jpg"]
    frames = [
        pb.Frame(frame_id=f"frame-{index}", timestamp_ms=1000 * index, encoded=photo(name).read_bytes())
        for index, name in enumerate(names)
    ]

    replies = list(facebank.recognize_frames(frames))

    assert [(r.frame_id, r.frame_index, r.timestamp_ms) for r in replies] == [
        ("frame-0", 0, 0),
        ("frame-1", 1, 1000),
        ("frame-2", 2, 2000),
    ]
    for index in (0, 2):
        assert replies[index].faces[0].identity.person.id == angelina.id, index


def test_frames_given_as_paths_are_named_by_their_paths(facebank: FacebankClient) -> None:
    paths = [photo("faces/deepface_angelina/3.jpg"), photo("faces/deepface_angelina/4.jpg")]

    replies = list(facebank.recognize_frames(paths))

    assert [r.frame_id for r in replies] == [str(path) for path in paths]


def test_a_frame_that_cannot_be_read_ends_the_stream_with_its_own_error(
    facebank: FacebankClient,
) -> None:
    frames = [photo("faces/deepface_angelina/3.jpg"), photo("faces/no_such_person/1.jpg")]

    with pytest.raises(FileNotFoundError):
        list(facebank.recognize_frames(frames))


def test_a_photo_with_no_face_is_refused_as_an_invalid_argument_with_reason_no_face(
    facebank: FacebankClient,
) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        facebank.register([faceless()], name="Nobody")

    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.reason == "NO_FACE"
    assert refused.value.domain == "facebank.v1"


def test_verifying_a_photo_with_no_face_fails_with_reason_no_face(facebank: FacebankClient) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        facebank.verify(faceless(), other_photo=photo("faces/deepface_angelina/1.jpg"))

    assert refused.value.reason == "NO_FACE"


def test_an_unknown_person_id_is_not_found_with_reason_person_not_found(
    facebank: FacebankClient,
) -> None:
    with pytest.raises(NotFoundError) as missing:
        facebank.get_person(str(uuid.uuid4()))

    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    assert missing.value.reason == "PERSON_NOT_FOUND"
    assert "does not exist" in missing.value.message


def test_a_malformed_id_names_the_offending_field(facebank: FacebankClient) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        facebank.get_person("42; DROP TABLE")

    assert refused.value.reason == "INVALID_FIELD"
    assert [violation.field for violation in refused.value.field_violations] == ["id"]

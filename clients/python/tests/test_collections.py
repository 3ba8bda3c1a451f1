"""Collections through the Python client, against a real facebank server and real photos.

The session's other tests register their persons in the collection ``default``;
each test here makes collections of its own, with fresh names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from facebank_client import (
    AlreadyExistsError,
    FacebankClient,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    pb,
)
from photos import ANGELINA, photo

PROBE = "faces/deepface_angelina/3.jpg"


def fresh_name() -> str:
    return f"staff_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def staff(facebank: FacebankClient) -> Iterator[str]:
    """A new, empty collection; deleted with its persons after the test."""
    name = fresh_name()
    facebank.create_collection(name)
    yield name
    try:
        facebank.delete_collection(name, delete_persons=True)
    except NotFoundError:
        pass  # the test deleted it itself


def test_creates_a_collection_pinned_to_the_served_model_and_gets_and_lists_it(
    facebank: FacebankClient,
) -> None:
    name = fresh_name()

    created = facebank.create_collection(name, threshold=0.75)

    assert created.name == name
    assert created.person_count == 0
    assert created.HasField("threshold") and created.threshold == pytest.approx(0.75)
    assert created.model.name and created.model.dimension > 0
    assert created.model.metric == "cosine"
    assert created.create_time.seconds > 0
    fetched = facebank.get_collection(name)
    assert (fetched.name, fetched.model, fetched.threshold) == (name, created.model, created.threshold)
    names = [collection.name for collection in facebank.list_collections()]
    assert {"default", name} <= set(names)


def test_a_collection_without_a_threshold_has_none(facebank: FacebankClient, staff: str) -> None:
    assert not facebank.get_collection(staff).HasField("threshold")


def test_a_taken_collection_name_already_exists_with_reason_collection_exists(
    facebank: FacebankClient, staff: str
) -> None:
    with pytest.raises(AlreadyExistsError) as taken:
        facebank.create_collection(staff)

    assert taken.value.reason == "COLLECTION_EXISTS"


def test_a_malformed_collection_name_is_refused(facebank: FacebankClient) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        facebank.create_collection("Not A Name!")

    assert refused.value.reason == "INVALID_FIELD"


def test_a_person_registered_into_a_collection_is_recognised_there_and_not_in_default(
    facebank: FacebankClient, angelina: pb.Person, staff: str
) -> None:
    # Angelina is registered in `default` (the fixture), not yet in `staff`.
    before = facebank.recognize(photo(PROBE), top_k=5, collection=staff)
    assert len(before.faces) == 1
    assert list(before.faces[0].matches) == []

    member = facebank.register(ANGELINA, name="Angelina on staff", collection=staff).person
    assert member.collection == staff
    assert member.face_count == 2
    assert facebank.get_person(member.id).collection == staff

    inside = facebank.recognize(photo(PROBE), top_k=5, collection=staff)
    assert [match.person.id for match in inside.faces[0].matches] == [member.id]

    in_default = facebank.recognize(photo(PROBE), top_k=5)
    matched = [match.person.id for match in in_default.faces[0].matches]
    assert member.id not in matched
    assert matched[0] == angelina.id
    assert {match.person.collection for match in in_default.faces[0].matches} == {"default"}


def test_lists_and_counts_only_the_persons_of_a_collection(
    facebank: FacebankClient, angelina: pb.Person, staff: str
) -> None:
    member = facebank.register(ANGELINA[:1], person=pb.Person(name="Angelina"), collection=staff).person

    assert [person.id for person in facebank.list_persons(collection=staff)] == [member.id]
    in_default = [person.id for person in facebank.list_persons(page_size=1)]
    assert angelina.id in in_default and member.id not in in_default
    assert facebank.get_collection(staff).person_count == 1


def test_verifies_against_a_person_only_in_their_own_collection(
    facebank: FacebankClient, staff: str
) -> None:
    member = facebank.register(ANGELINA, name="Angelina", collection=staff).person

    reply = facebank.verify(photo("faces/deepface_angelina/4.jpg"), person_id=member.id, collection=staff)
    assert reply.same_person, reply.similarity

    with pytest.raises(NotFoundError) as elsewhere:
        facebank.verify(photo("faces/deepface_angelina/4.jpg"), person_id=member.id)
    assert elsewhere.value.reason == "PERSON_NOT_FOUND"


def test_searches_in_a_collection_use_its_threshold(facebank: FacebankClient) -> None:
    name = fresh_name()
    facebank.create_collection(name, threshold=0.9)
    try:
        strict = facebank.recognize(photo(PROBE), collection=name)
        loose = facebank.recognize(photo(PROBE), collection=name, min_similarity=0.2)
    finally:
        facebank.delete_collection(name)

    assert strict.threshold == pytest.approx(0.9)
    assert loose.threshold == pytest.approx(0.2)


def test_streamed_frames_are_recognised_in_the_stream_s_collection(
    facebank: FacebankClient, angelina: pb.Person, staff: str
) -> None:
    member = facebank.register(ANGELINA, name="Angelina", collection=staff).person
    frames = [photo(PROBE), photo("faces/deepface_angelina/4.jpg")]

    inside = list(facebank.recognize_frames(frames, collection=staff))
    in_default = list(facebank.recognize_frames(frames))

    assert [reply.faces[0].identity.person.id for reply in inside] == [member.id, member.id]
    assert [reply.faces[0].identity.person.id for reply in in_default] == [angelina.id, angelina.id]


def test_deleting_a_collection_with_persons_needs_delete_persons_and_then_removes_them(
    facebank: FacebankClient,
) -> None:
    name = fresh_name()
    facebank.create_collection(name)
    member = facebank.register(ANGELINA, name="Angelina", collection=name).person

    with pytest.raises(FailedPreconditionError) as not_empty:
        facebank.delete_collection(name)
    assert not_empty.value.reason == "COLLECTION_NOT_EMPTY"
    assert facebank.get_person(member.id).id == member.id

    assert facebank.delete_collection(name, delete_persons=True) == 1

    with pytest.raises(NotFoundError) as person_gone:
        facebank.get_person(member.id)
    assert person_gone.value.reason == "PERSON_NOT_FOUND"
    with pytest.raises(NotFoundError) as collection_gone:
        facebank.get_collection(name)
    assert collection_gone.value.reason == "COLLECTION_NOT_FOUND"
    assert name not in [collection.name for collection in facebank.list_collections()]
    in_default = facebank.recognize(photo(PROBE), top_k=5)
    assert member.id not in [match.person.id for match in in_default.faces[0].matches]


def test_an_empty_collection_is_deleted_without_delete_persons(facebank: FacebankClient) -> None:
    name = fresh_name()
    facebank.create_collection(name)

    assert facebank.delete_collection(name) == 0
    with pytest.raises(NotFoundError):
        facebank.get_collection(name)


def test_the_default_collection_cannot_be_deleted(facebank: FacebankClient) -> None:
    with pytest.raises(InvalidArgumentError):
        facebank.delete_collection("default", delete_persons=True)

    assert "default" in [collection.name for collection in facebank.list_collections()]


def test_an_unknown_collection_is_not_found_with_reason_collection_not_found(
    facebank: FacebankClient,
) -> None:
    name = fresh_name()

    for call in (
        lambda: facebank.recognize(photo(PROBE), collection=name),
        lambda: facebank.register(ANGELINA[:1], name="Nobody", collection=name),
        lambda: list(facebank.list_persons(collection=name)),
        lambda: facebank.get_collection(name),
        lambda: facebank.delete_collection(name),
    ):
        with pytest.raises(NotFoundError) as missing:
            call()
        assert missing.value.reason == "COLLECTION_NOT_FOUND"


def test_a_collection_is_only_for_a_new_person(facebank: FacebankClient, angelina: pb.Person) -> None:
    with pytest.raises(ValueError):
        facebank.register(ANGELINA[:1], person_id=angelina.id, collection="staff")
    with pytest.raises(ValueError):
        facebank.register(
            ANGELINA[:1], person=pb.Person(name="A", collection="staff"), collection="other"
        )

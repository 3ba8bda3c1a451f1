"""A small, typed facade over facebank's generated gRPC stub."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Union

import grpc

from ._gen.facebank.v1 import facebank_pb2 as pb
from ._gen.facebank.v1 import facebank_pb2_grpc as pb_grpc
from .errors import FacebankError, from_rpc_error

# A photo given by its file path or by its encoded bytes (JPEG, PNG, WebP, BMP).
ImageSource = Union[str, os.PathLike[str], bytes]

DEFAULT_TARGET = "127.0.0.1:50051"


class FacebankClient:
    """A connection to a facebank server.

    Every method raises a `facebank_client.FacebankError` subclass when the call
    fails. The generated stub, for the calls this facade leaves out, is `stub`.

    Persons live in collections, each searched on its own; the calls that take
    a `collection` use the collection ``default`` when it is left empty.

    Use it as a context manager, or call `close()`, to close the channel::

        with FacebankClient("127.0.0.1:50051") as facebank:
            person = facebank.register(["me1.jpg", "me2.jpg"], name="Me").person
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        channel: grpc.Channel | None = None,
        timeout: float | None = None,
    ) -> None:
        """Connects to `target` (``host:port``, plaintext), or uses `channel`.

        Args:
            target: the server's address; ignored when `channel` is given.
            channel: a channel of the caller's own, for TLS or custom options.
                The client closes it on `close()`.
            timeout: a deadline in seconds for each unary call; None for none.
                Streams have no deadline.
        """
        self._channel = channel if channel is not None else grpc.insecure_channel(target)
        self._timeout = timeout
        # The generated stub is untyped; the facade's methods give its calls types.
        self.stub: Any = pb_grpc.FaceServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> FacebankClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def create_collection(self, name: str, *, threshold: float | None = None) -> pb.Collection:
        """Creates an empty collection, pinned to the model the server runs.

        Args:
            name: 1 to 64 lower-case letters, digits and underscores, starting
                with a letter.
            threshold: the match threshold of searches in the collection that
                give none; None for the server's configured threshold.

        Returns:
            The collection, with its model and creation time.

        Raises:
            AlreadyExistsError: the name is taken (reason ``COLLECTION_EXISTS``).
            InvalidArgumentError: a malformed name, or a threshold outside
                [-1, 1] (reason ``INVALID_FIELD``).
        """
        request = pb.CreateCollectionRequest(collection=pb.Collection(name=name, threshold=threshold))
        with _facebank_errors():
            reply: pb.CreateCollectionResponse = self.stub.CreateCollection(
                request, timeout=self._timeout
            )
        return reply.collection

    def get_collection(self, name: str) -> pb.Collection:
        """The collection with this name, with its number of persons.

        Raises:
            NotFoundError: no such collection (reason ``COLLECTION_NOT_FOUND``).
        """
        with _facebank_errors():
            reply: pb.GetCollectionResponse = self.stub.GetCollection(
                pb.GetCollectionRequest(name=name), timeout=self._timeout
            )
        return reply.collection

    def list_collections(self) -> list[pb.Collection]:
        """Every collection, ``default`` included, by name."""
        with _facebank_errors():
            reply: pb.ListCollectionsResponse = self.stub.ListCollections(
                pb.ListCollectionsRequest(), timeout=self._timeout
            )
        return list(reply.collections)

    def delete_collection(self, name: str, *, delete_persons: bool = False) -> int:
        """Deletes a collection; with `delete_persons`, its persons and faces too.

        Returns:
            How many persons were deleted with the collection.

        Raises:
            NotFoundError: no such collection (reason ``COLLECTION_NOT_FOUND``).
            FailedPreconditionError: the collection holds persons and
                `delete_persons` is not set (reason ``COLLECTION_NOT_EMPTY``);
                nothing was deleted.
            InvalidArgumentError: the collection is ``default``, which cannot
                be deleted.
        """
        request = pb.DeleteCollectionRequest(name=name, delete_persons=delete_persons)
        with _facebank_errors():
            reply: pb.DeleteCollectionResponse = self.stub.DeleteCollection(
                request, timeout=self._timeout
            )
        return reply.deleted_persons

    def register(
        self,
        photos: Iterable[ImageSource],
        *,
        name: str | None = None,
        person: pb.Person | None = None,
        person_id: str | None = None,
        largest_face: bool = False,
        collection: str = "",
    ) -> pb.RegisterFacesResponse:
        """Registers one face from each photo, for a new person or an existing one.

        Give exactly one of `name` (a new person with that name), `person` (a
        new person with these fields) or `person_id` (an existing person). A
        new person is created only if at least one face is accepted.

        Args:
            photos: the photos, each showing one face (see `largest_face`).
            largest_face: register the largest face of a photo that shows
                several, instead of refusing that photo.
            collection: the collection a new person goes into; empty for
                ``default`` (or, with `person`, the person's own `collection`
                field). An existing person stays in their collection, so it
                cannot be given with `person_id`.

        Returns:
            The person, the faces added, and the photos refused with their
            reasons (``NO_FACE``, ``MULTIPLE_FACES``, ``DUPLICATE_FACE``...).

        Raises:
            InvalidArgumentError: every photo was refused (reason ``NO_FACE``
                and the like); nothing was stored.
            NotFoundError: `person_id` names no person, or `collection` no
                collection (reason ``COLLECTION_NOT_FOUND``).
        """
        if sum(target is not None for target in (name, person, person_id)) != 1:
            raise ValueError("give exactly one of name, person or person_id")
        if collection and person_id is not None:
            raise ValueError("collection is for a new person; an existing one keeps theirs")
        if collection and person is not None and person.collection not in ("", collection):
            raise ValueError(
                f"collection {collection!r} differs from the person's {person.collection!r}"
            )

        request = pb.RegisterFacesRequest(
            images=[pb.Image(content=_read(photo)) for photo in photos],
            face_selection=(
                pb.FACE_SELECTION_LARGEST if largest_face else pb.FACE_SELECTION_SINGLE
            ),
        )
        if person_id is not None:
            request.person_id = person_id
        else:
            request.new_person.CopyFrom(person if person is not None else pb.Person(name=name))
            if collection:
                request.new_person.collection = collection

        with _facebank_errors():
            reply: pb.RegisterFacesResponse = self.stub.RegisterFaces(request, timeout=self._timeout)
        return reply

    def recognize(
        self,
        photo: ImageSource,
        *,
        top_k: int = 1,
        max_faces: int = 0,
        min_similarity: float | None = None,
        collection: str = "",
    ) -> pb.RecognizeResponse:
        """Finds every face in the photo and the registered persons it matches.

        Args:
            top_k: at most this many matches per face, best first.
            max_faces: at most this many faces, largest first; 0 for all.
            min_similarity: the match threshold for this call instead of the
                collection's (or the server's).
            collection: the collection to search; empty for ``default``.

        Returns:
            The faces, largest first, each with its matches; a face matching
            nobody has no matches. A photo with no face gives no faces (not
            an error).

        Raises:
            NotFoundError: `collection` names no collection (reason
                ``COLLECTION_NOT_FOUND``).
        """
        request = pb.RecognizeRequest(
            image=pb.Image(content=_read(photo)),
            top_k=top_k,
            max_faces=max_faces,
            min_similarity=min_similarity,
            collection=collection,
        )
        with _facebank_errors():
            reply: pb.RecognizeResponse = self.stub.Recognize(request, timeout=self._timeout)
        return reply

    def verify(
        self,
        photo: ImageSource,
        *,
        other_photo: ImageSource | None = None,
        person_id: str | None = None,
        threshold: float | None = None,
        collection: str = "",
    ) -> pb.VerifyResponse:
        """Decides whether the photo shows the same person as another photo or a person.

        The largest face of `photo` is compared with the largest face of
        `other_photo`, or with the most similar registered face of the person
        `person_id`; give exactly one of them.

        Args:
            threshold: the match threshold for this call instead of the
                collection's (or the server's).
            collection: the collection whose model and threshold apply, and
                that `person_id` must belong to; empty for ``default``.

        Returns:
            The similarity, the verdict (`same_person`) and the threshold used.

        Raises:
            InvalidArgumentError: a photo has no usable face (``NO_FACE``...).
            NotFoundError: `person_id` names no person (of `collection`), or
                `collection` no collection.
            FailedPreconditionError: the person has no registered face.
        """
        if (other_photo is None) == (person_id is None):
            raise ValueError("give exactly one of other_photo or person_id")

        request = pb.VerifyRequest(
            image=pb.Image(content=_read(photo)), threshold=threshold, collection=collection
        )
        if person_id is not None:
            request.person_id = person_id
        else:
            assert other_photo is not None
            request.other_image.content = _read(other_photo)

        with _facebank_errors():
            reply: pb.VerifyResponse = self.stub.Verify(request, timeout=self._timeout)
        return reply

    def detect(self, photo: ImageSource, *, max_faces: int = 0) -> pb.DetectResponse:
        """Finds the faces in the photo (boxes, landmarks, scores); stores nothing."""
        request = pb.DetectRequest(image=pb.Image(content=_read(photo)), max_faces=max_faces)
        with _facebank_errors():
            reply: pb.DetectResponse = self.stub.Detect(request, timeout=self._timeout)
        return reply

    def get_person(self, person_id: str) -> pb.Person:
        """The person with this id.

        Raises:
            NotFoundError: no such person (reason ``PERSON_NOT_FOUND``).
        """
        with _facebank_errors():
            reply: pb.GetPersonResponse = self.stub.GetPerson(
                pb.GetPersonRequest(id=person_id), timeout=self._timeout
            )
        return reply.person

    def list_persons(self, *, page_size: int = 0, collection: str = "") -> Iterator[pb.Person]:
        """Every person of a collection, in creation order, fetched a page at a time as iterated.

        Args:
            page_size: persons per request; 0 for the server's default.
            collection: the collection to list; empty for ``default``.
        """
        page_token = ""
        while True:
            request = pb.ListPersonsRequest(
                page_size=page_size, page_token=page_token, collection=collection
            )
            with _facebank_errors():
                page: pb.ListPersonsResponse = self.stub.ListPersons(request, timeout=self._timeout)
            yield from page.persons
            if not page.next_page_token:
                return
            page_token = page.next_page_token

    def recognize_frames(
        self,
        frames: Iterable[ImageSource | pb.Frame],
        *,
        min_similarity: float | None = None,
        drop_frames_when_busy: bool = False,
        collection: str = "",
    ) -> Iterator[pb.RecognizeFramesResponse]:
        """Streams frames of a live feed and yields one reply per frame, in order.

        A frame is a photo (path or encoded bytes) or a `pb.Frame` (for raw
        RGB pixels, or to set `frame_id` and `timestamp_ms` yourself). A
        photo's frame id is its path as given, or its position in the stream
        for bytes. Frames are read lazily, as the server is ready for them.

        Args:
            min_similarity: the match threshold for this stream instead of
                the collection's (or the server's).
            drop_frames_when_busy: skip frames that queue up while one is
                processed (each still gets a reply, with `dropped` set)
                instead of slowing the sender.
            collection: the collection to search; empty for ``default``.

        Yields:
            One reply per frame: its id and timestamp echoed, and each face
            with its track id and identity.

        Raises:
            The exception reading a frame raised (a missing file, say), which
            ends the stream.
        """
        options = pb.LiveOptions(
            min_similarity=min_similarity,
            drop_frames_when_busy=drop_frames_when_busy,
            collection=collection,
        )

        # gRPC reads the frames on a thread of its own and reports a failure
        # there only as "Exception iterating requests!"; keep it to raise it.
        reading_failed: list[Exception] = []

        def requests() -> Iterator[pb.RecognizeFramesRequest]:
            try:
                for index, frame in enumerate(frames):
                    request = pb.RecognizeFramesRequest(frame=_frame(frame, index))
                    if index == 0:
                        # The server reads the options from the first message only.
                        request.options.CopyFrom(options)
                    yield request
            except Exception as error:
                reading_failed.append(error)
                raise

        replies = self.stub.RecognizeFrames(requests())
        try:
            with _facebank_errors():
                yield from replies
        except FacebankError:
            if reading_failed:
                raise reading_failed[0] from None
            raise
        finally:
            # A caller that stops iterating early ends the stream.
            replies.cancel()


@contextmanager
def _facebank_errors() -> Iterator[None]:
    """Turns a gRPC error raised inside the block into a FacebankError."""
    try:
        yield
    except grpc.RpcError as error:
        raise from_rpc_error(error) from error


def _read(photo: ImageSource) -> bytes:
    if isinstance(photo, bytes):
        return photo
    return Path(photo).read_bytes()


def _frame(frame: ImageSource | pb.Frame, index: int) -> pb.Frame:
    if isinstance(frame, pb.Frame):
        return frame
    if isinstance(frame, bytes):
        return pb.Frame(frame_id=str(index), encoded=frame)
    return pb.Frame(frame_id=os.fspath(frame), encoded=_read(frame))

import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FaceSelection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FACE_SELECTION_UNSPECIFIED: _ClassVar[FaceSelection]
    FACE_SELECTION_SINGLE: _ClassVar[FaceSelection]
    FACE_SELECTION_LARGEST: _ClassVar[FaceSelection]
FACE_SELECTION_UNSPECIFIED: FaceSelection
FACE_SELECTION_SINGLE: FaceSelection
FACE_SELECTION_LARGEST: FaceSelection

class RecognitionModel(_message.Message):
    __slots__ = ("name", "version", "dimension", "metric")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    dimension: int
    metric: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., dimension: _Optional[int] = ..., metric: _Optional[str] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("name", "model", "threshold", "create_time", "person_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PERSON_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: RecognitionModel
    threshold: float
    create_time: _timestamp_pb2.Timestamp
    person_count: int
    def __init__(self, name: _Optional[str] = ..., model: _Optional[_Union[RecognitionModel, _Mapping]] = ..., threshold: _Optional[float] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., person_count: _Optional[int] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ...) -> None: ...

class CreateCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections",)
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[Collection]
    def __init__(self, collections: _Optional[_Iterable[_Union[Collection, _Mapping]]] = ...) -> None: ...

class DeleteCollectionRequest(_message.Message):
    __slots__ = ("name", "delete_persons")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DELETE_PERSONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    delete_persons: bool
    def __init__(self, name: _Optional[str] = ..., delete_persons: _Optional[bool] = ...) -> None: ...

class DeleteCollectionResponse(_message.Message):
    __slots__ = ("deleted_persons",)
    DELETED_PERSONS_FIELD_NUMBER: _ClassVar[int]
    deleted_persons: int
    def __init__(self, deleted_persons: _Optional[int] = ...) -> None: ...

class Person(_message.Message):
    __slots__ = ("id", "external_id", "name", "birthdate", "country", "city", "title", "org", "attributes", "create_time", "update_time", "face_count", "collection")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTHDATE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ORG_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    external_id: str
    name: str
    birthdate: str
    country: str
    city: str
    title: str
    org: str
    attributes: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    face_count: int
    collection: str
    def __init__(self, id: _Optional[str] = ..., external_id: _Optional[str] = ..., name: _Optional[str] = ..., birthdate: _Optional[str] = ..., country: _Optional[str] = ..., city: _Optional[str] = ..., title: _Optional[str] = ..., org: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., face_count: _Optional[int] = ..., collection: _Optional[str] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("content",)
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    def __init__(self, content: _Optional[bytes] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    width: float
    height: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class DetectedFace(_message.Message):
    __slots__ = ("box", "landmarks", "score")
    BOX_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    box: BoundingBox
    landmarks: _containers.RepeatedCompositeFieldContainer[Point]
    score: float
    def __init__(self, box: _Optional[_Union[BoundingBox, _Mapping]] = ..., landmarks: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., score: _Optional[float] = ...) -> None: ...

class Face(_message.Message):
    __slots__ = ("id", "person_id", "detection", "image_sha256", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    person_id: str
    detection: DetectedFace
    image_sha256: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., person_id: _Optional[str] = ..., detection: _Optional[_Union[DetectedFace, _Mapping]] = ..., image_sha256: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreatePersonRequest(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class CreatePersonResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class GetPersonRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPersonResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class ListPersonsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "collection")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    collection: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., collection: _Optional[str] = ...) -> None: ...

class ListPersonsResponse(_message.Message):
    __slots__ = ("persons", "next_page_token")
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    persons: _containers.RepeatedCompositeFieldContainer[Person]
    next_page_token: str
    def __init__(self, persons: _Optional[_Iterable[_Union[Person, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdatePersonRequest(_message.Message):
    __slots__ = ("person", "update_mask")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    person: Person
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePersonResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class DeletePersonRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeletePersonResponse(_message.Message):
    __slots__ = ("deleted_faces",)
    DELETED_FACES_FIELD_NUMBER: _ClassVar[int]
    deleted_faces: int
    def __init__(self, deleted_faces: _Optional[int] = ...) -> None: ...

class RegisterFacesRequest(_message.Message):
    __slots__ = ("person_id", "new_person", "images", "face_selection")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_PERSON_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    FACE_SELECTION_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    new_person: Person
    images: _containers.RepeatedCompositeFieldContainer[Image]
    face_selection: FaceSelection
    def __init__(self, person_id: _Optional[str] = ..., new_person: _Optional[_Union[Person, _Mapping]] = ..., images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., face_selection: _Optional[_Union[FaceSelection, str]] = ...) -> None: ...

class RejectedImage(_message.Message):
    __slots__ = ("image_index", "reason", "message")
    IMAGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    image_index: int
    reason: str
    message: str
    def __init__(self, image_index: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RegisterFacesResponse(_message.Message):
    __slots__ = ("person", "faces", "rejected")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    person: Person
    faces: _containers.RepeatedCompositeFieldContainer[Face]
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedImage]
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., faces: _Optional[_Iterable[_Union[Face, _Mapping]]] = ..., rejected: _Optional[_Iterable[_Union[RejectedImage, _Mapping]]] = ...) -> None: ...

class ListFacesRequest(_message.Message):
    __slots__ = ("person_id",)
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    def __init__(self, person_id: _Optional[str] = ...) -> None: ...

class ListFacesResponse(_message.Message):
    __slots__ = ("faces",)
    FACES_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[Face]
    def __init__(self, faces: _Optional[_Iterable[_Union[Face, _Mapping]]] = ...) -> None: ...

class DeleteFaceRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteFaceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RecognizeRequest(_message.Message):
    __slots__ = ("image", "max_faces", "top_k", "min_similarity", "collection")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_FACES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    image: Image
    max_faces: int
    top_k: int
    min_similarity: float
    collection: str
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., max_faces: _Optional[int] = ..., top_k: _Optional[int] = ..., min_similarity: _Optional[float] = ..., collection: _Optional[str] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("person", "face_id", "similarity")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    person: Person
    face_id: str
    similarity: float
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., face_id: _Optional[str] = ..., similarity: _Optional[float] = ...) -> None: ...

class RecognizedFace(_message.Message):
    __slots__ = ("detection", "matches")
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    detection: DetectedFace
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    def __init__(self, detection: _Optional[_Union[DetectedFace, _Mapping]] = ..., matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("faces", "threshold")
    FACES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[RecognizedFace]
    threshold: float
    def __init__(self, faces: _Optional[_Iterable[_Union[RecognizedFace, _Mapping]]] = ..., threshold: _Optional[float] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("image", "other_image", "person_id", "threshold", "collection")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OTHER_IMAGE_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    image: Image
    other_image: Image
    person_id: str
    threshold: float
    collection: str
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., other_image: _Optional[_Union[Image, _Mapping]] = ..., person_id: _Optional[str] = ..., threshold: _Optional[float] = ..., collection: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("similarity", "same_person", "threshold", "matched_face_id")
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    SAME_PERSON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FACE_ID_FIELD_NUMBER: _ClassVar[int]
    similarity: float
    same_person: bool
    threshold: float
    matched_face_id: str
    def __init__(self, similarity: _Optional[float] = ..., same_person: _Optional[bool] = ..., threshold: _Optional[float] = ..., matched_face_id: _Optional[str] = ...) -> None: ...

class DetectRequest(_message.Message):
    __slots__ = ("image", "max_faces")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_FACES_FIELD_NUMBER: _ClassVar[int]
    image: Image
    max_faces: int
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., max_faces: _Optional[int] = ...) -> None: ...

class DetectResponse(_message.Message):
    __slots__ = ("faces", "image_width", "image_height")
    FACES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[DetectedFace]
    image_width: int
    image_height: int
    def __init__(self, faces: _Optional[_Iterable[_Union[DetectedFace, _Mapping]]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ...) -> None: ...

class RegisterFacesStreamRequest(_message.Message):
    __slots__ = ("header", "chunk", "finish")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    header: RegistrationHeader
    chunk: ImageChunk
    finish: RegistrationFinish
    def __init__(self, header: _Optional[_Union[RegistrationHeader, _Mapping]] = ..., chunk: _Optional[_Union[ImageChunk, _Mapping]] = ..., finish: _Optional[_Union[RegistrationFinish, _Mapping]] = ...) -> None: ...

class RegistrationFinish(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegistrationHeader(_message.Message):
    __slots__ = ("person_id", "new_person", "face_selection")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_PERSON_FIELD_NUMBER: _ClassVar[int]
    FACE_SELECTION_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    new_person: Person
    face_selection: FaceSelection
    def __init__(self, person_id: _Optional[str] = ..., new_person: _Optional[_Union[Person, _Mapping]] = ..., face_selection: _Optional[_Union[FaceSelection, str]] = ...) -> None: ...

class ImageChunk(_message.Message):
    __slots__ = ("data", "last")
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    last: bool
    def __init__(self, data: _Optional[bytes] = ..., last: _Optional[bool] = ...) -> None: ...

class RegisterFacesStreamResponse(_message.Message):
    __slots__ = ("person", "faces", "rejected")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    person: Person
    faces: _containers.RepeatedCompositeFieldContainer[Face]
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedImage]
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., faces: _Optional[_Iterable[_Union[Face, _Mapping]]] = ..., rejected: _Optional[_Iterable[_Union[RejectedImage, _Mapping]]] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("frame_id", "timestamp_ms", "encoded", "raw")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    timestamp_ms: int
    encoded: bytes
    raw: RawImage
    def __init__(self, frame_id: _Optional[str] = ..., timestamp_ms: _Optional[int] = ..., encoded: _Optional[bytes] = ..., raw: _Optional[_Union[RawImage, _Mapping]] = ...) -> None: ...

class RawImage(_message.Message):
    __slots__ = ("rgb", "width", "height")
    RGB_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    rgb: bytes
    width: int
    height: int
    def __init__(self, rgb: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ClipOptions(_message.Message):
    __slots__ = ("min_similarity", "collection")
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    min_similarity: float
    collection: str
    def __init__(self, min_similarity: _Optional[float] = ..., collection: _Optional[str] = ...) -> None: ...

class RecognizeClipRequest(_message.Message):
    __slots__ = ("options", "frame")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    options: ClipOptions
    frame: Frame
    def __init__(self, options: _Optional[_Union[ClipOptions, _Mapping]] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ...) -> None: ...

class ClipTrack(_message.Message):
    __slots__ = ("track_id", "first_frame", "last_frame", "first_frame_id", "last_frame_id", "frames", "identity", "agreeing_frames")
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    AGREEING_FRAMES_FIELD_NUMBER: _ClassVar[int]
    track_id: int
    first_frame: int
    last_frame: int
    first_frame_id: str
    last_frame_id: str
    frames: int
    identity: Match
    agreeing_frames: int
    def __init__(self, track_id: _Optional[int] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., first_frame_id: _Optional[str] = ..., last_frame_id: _Optional[str] = ..., frames: _Optional[int] = ..., identity: _Optional[_Union[Match, _Mapping]] = ..., agreeing_frames: _Optional[int] = ...) -> None: ...

class RecognizeClipResponse(_message.Message):
    __slots__ = ("tracks", "frames", "threshold")
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    tracks: _containers.RepeatedCompositeFieldContainer[ClipTrack]
    frames: int
    threshold: float
    def __init__(self, tracks: _Optional[_Iterable[_Union[ClipTrack, _Mapping]]] = ..., frames: _Optional[int] = ..., threshold: _Optional[float] = ...) -> None: ...

class LiveOptions(_message.Message):
    __slots__ = ("min_similarity", "drop_frames_when_busy", "collection")
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    DROP_FRAMES_WHEN_BUSY_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    min_similarity: float
    drop_frames_when_busy: bool
    collection: str
    def __init__(self, min_similarity: _Optional[float] = ..., drop_frames_when_busy: _Optional[bool] = ..., collection: _Optional[str] = ...) -> None: ...

class RecognizeFramesRequest(_message.Message):
    __slots__ = ("options", "frame")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    options: LiveOptions
    frame: Frame
    def __init__(self, options: _Optional[_Union[LiveOptions, _Mapping]] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ...) -> None: ...

class TrackedFace(_message.Message):
    __slots__ = ("detection", "track_id", "identity", "embedded")
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    EMBEDDED_FIELD_NUMBER: _ClassVar[int]
    detection: DetectedFace
    track_id: int
    identity: Match
    embedded: bool
    def __init__(self, detection: _Optional[_Union[DetectedFace, _Mapping]] = ..., track_id: _Optional[int] = ..., identity: _Optional[_Union[Match, _Mapping]] = ..., embedded: _Optional[bool] = ...) -> None: ...

class RecognizeFramesResponse(_message.Message):
    __slots__ = ("frame_id", "timestamp_ms", "frame_index", "dropped", "faces")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    timestamp_ms: int
    frame_index: int
    dropped: bool
    faces: _containers.RepeatedCompositeFieldContainer[TrackedFace]
    def __init__(self, frame_id: _Optional[str] = ..., timestamp_ms: _Optional[int] = ..., frame_index: _Optional[int] = ..., dropped: _Optional[bool] = ..., faces: _Optional[_Iterable[_Union[TrackedFace, _Mapping]]] = ...) -> None: ...

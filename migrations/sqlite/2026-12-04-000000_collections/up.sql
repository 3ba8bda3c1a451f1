-- Collections: named sets of persons, each pinned to one recognition model.
-- Persons and faces so far move to the collection "default", pinned to the only
-- model facebank ran before (dlib's ResNet, 128-d). External ids become unique
-- within a collection, which SQLite can only change by rebuilding the tables.
CREATE TABLE collections (
    name TEXT NOT NULL PRIMARY KEY,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    metric TEXT NOT NULL,
    -- NULL: the server's configured threshold
    threshold REAL,
    created_at BIGINT NOT NULL
);

INSERT INTO collections (name, model_name, model_version, dimension, metric, threshold, created_at)
VALUES ('default', 'dlib_face_recognition_resnet_v1', '1', 128, 'cosine', NULL,
        CAST(strftime('%s', 'now') AS INTEGER) * 1000000);

CREATE TABLE persons_new (
    id TEXT NOT NULL PRIMARY KEY,
    external_id TEXT,
    name TEXT NOT NULL,
    birthdate TEXT NOT NULL,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    title TEXT NOT NULL,
    org TEXT NOT NULL,
    -- JSON object of strings
    attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    collection TEXT NOT NULL REFERENCES collections (name),
    UNIQUE (collection, external_id)
);

INSERT INTO persons_new
SELECT id, external_id, name, birthdate, country, city, title, org, attributes,
       created_at, updated_at, 'default'
FROM persons;

CREATE TABLE faces_new (
    id TEXT NOT NULL PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons_new (id) ON DELETE CASCADE,
    -- little-endian float32 values
    embedding BLOB NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    detection_score REAL NOT NULL,
    box_x1 REAL NOT NULL,
    box_y1 REAL NOT NULL,
    box_x2 REAL NOT NULL,
    box_y2 REAL NOT NULL,
    -- little-endian float32 x, y of the five landmarks
    landmarks BLOB NOT NULL,
    image_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- the person's collection
    collection TEXT NOT NULL
);

INSERT INTO faces_new
SELECT id, person_id, embedding, model_name, model_version, detection_score,
       box_x1, box_y1, box_x2, box_y2, landmarks, image_sha256, created_at, 'default'
FROM faces;

DROP TABLE faces;
DROP TABLE persons;
ALTER TABLE persons_new RENAME TO persons;
ALTER TABLE faces_new RENAME TO faces;

CREATE INDEX persons_by_collection ON persons (collection, id);
CREATE INDEX faces_by_person ON faces (person_id, id);
-- One image registers at most one face per person, even when two calls race.
CREATE UNIQUE INDEX faces_unique_image_per_person ON faces (person_id, image_sha256);

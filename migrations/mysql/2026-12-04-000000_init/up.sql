-- The tables of migrations/sqlite, in MySQL/MariaDB types. Ids compare
-- byte-wise (ascii_bin), as they do in SQLite, so paging orders alike;
-- external ids are case-sensitive for the same reason.
CREATE TABLE collections (
    name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    model_name VARCHAR(256) NOT NULL,
    model_version VARCHAR(256) NOT NULL,
    dimension INT NOT NULL,
    metric VARCHAR(32) NOT NULL,
    -- NULL: the server's configured threshold
    threshold FLOAT NULL,
    created_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The collection that always exists, pinned to the default model.
INSERT INTO collections (name, model_name, model_version, dimension, metric, threshold, created_at)
VALUES ('default', 'dlib_face_recognition_resnet_v1', '1', 128, 'cosine', NULL,
        UNIX_TIMESTAMP() * 1000000);

CREATE TABLE persons (
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    external_id VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    name TEXT NOT NULL,
    birthdate TEXT NOT NULL,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    title TEXT NOT NULL,
    org TEXT NOT NULL,
    -- JSON object of strings
    attributes MEDIUMTEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    collection VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    UNIQUE KEY persons_unique_external_id (collection, external_id),
    KEY persons_by_collection (collection, id),
    CONSTRAINT persons_collection FOREIGN KEY (collection) REFERENCES collections (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE faces (
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    person_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- little-endian float32 values
    embedding BLOB NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    detection_score FLOAT NOT NULL,
    box_x1 FLOAT NOT NULL,
    box_y1 FLOAT NOT NULL,
    box_x2 FLOAT NOT NULL,
    box_y2 FLOAT NOT NULL,
    -- little-endian float32 x, y of the five landmarks
    landmarks BLOB NOT NULL,
    image_sha256 CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at BIGINT NOT NULL,
    -- the person's collection
    collection VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- One image registers at most one face per person, even when two calls race.
    UNIQUE KEY faces_unique_image_per_person (person_id, image_sha256),
    KEY faces_by_person (person_id, id),
    CONSTRAINT faces_person FOREIGN KEY (person_id) REFERENCES persons (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE persons (
    id TEXT NOT NULL PRIMARY KEY,
    external_id TEXT UNIQUE,
    name TEXT NOT NULL,
    birthdate TEXT NOT NULL,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    title TEXT NOT NULL,
    org TEXT NOT NULL,
    -- JSON object of strings
    attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE faces (
    id TEXT NOT NULL PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
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
    created_at BIGINT NOT NULL
);

CREATE INDEX faces_by_person ON faces (person_id, id);

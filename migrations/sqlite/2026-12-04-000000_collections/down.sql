-- Back to one set of persons: every collection's persons are kept, and
-- external ids must be unique across them again (this fails when they are not).
CREATE TABLE persons_old (
    id TEXT NOT NULL PRIMARY KEY,
    external_id TEXT UNIQUE,
    name TEXT NOT NULL,
    birthdate TEXT NOT NULL,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    title TEXT NOT NULL,
    org TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO persons_old
SELECT id, external_id, name, birthdate, country, city, title, org, attributes, created_at, updated_at
FROM persons;

CREATE TABLE faces_old (
    id TEXT NOT NULL PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons_old (id) ON DELETE CASCADE,
    embedding BLOB NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    detection_score REAL NOT NULL,
    box_x1 REAL NOT NULL,
    box_y1 REAL NOT NULL,
    box_x2 REAL NOT NULL,
    box_y2 REAL NOT NULL,
    landmarks BLOB NOT NULL,
    image_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO faces_old
SELECT id, person_id, embedding, model_name, model_version, detection_score,
       box_x1, box_y1, box_x2, box_y2, landmarks, image_sha256, created_at
FROM faces;

DROP TABLE faces;
DROP TABLE persons;
DROP TABLE collections;
ALTER TABLE persons_old RENAME TO persons;
ALTER TABLE faces_old RENAME TO faces;
CREATE INDEX faces_by_person ON faces (person_id, id);
CREATE UNIQUE INDEX faces_unique_image_per_person ON faces (person_id, image_sha256);

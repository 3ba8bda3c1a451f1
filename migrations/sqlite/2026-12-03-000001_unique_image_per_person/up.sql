-- One image registers at most one face per person, even when two calls race.
DELETE FROM faces
WHERE rowid NOT IN (SELECT MIN(rowid) FROM faces GROUP BY person_id, image_sha256);

CREATE UNIQUE INDEX faces_unique_image_per_person ON faces (person_id, image_sha256);

DROP TABLE faces;
DROP TABLE persons;

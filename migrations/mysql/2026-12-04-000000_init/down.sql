DROP TABLE faces;
DROP TABLE persons;
DROP TABLE collections;

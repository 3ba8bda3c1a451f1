//! The records port written once over Diesel's async connections; each
//! backend module instantiates it for its connection type.

/// Implements [`Records`](super::Records) for `$records`, whose
/// `async fn conn(&self) -> Result<impl DerefMut<Target = $conn>>` lends a
/// connection to the `$backend` database. Expands to a private module, so each
/// backend gets its own copy of the helpers. A trailing block holds further
/// items of the `Records` impl (the health methods).
macro_rules! diesel_records {
    ($records:ident, $conn:ty, $backend:ty $(, { $($extra:tt)* })? $(,)?) => {
        mod queries {
            use std::collections::HashMap;

            use diesel::prelude::*;
            use diesel_async::{AsyncConnection, RunQueryDsl};

            use super::$records;
            use $crate::{
                domain::{Collection, Face, Person},
                error::{Error, Result},
                ports::records::{
                    rows::{
                        db_error, face_write_error, person_write_error, CollectionRow, FaceRow,
                        PersonRow,
                    },
                    schema::{collections, faces, persons},
                    BeforeCommit, Records,
                },
            };

            #[async_trait::async_trait]
            impl Records for $records {
                $($($extra)*)?

                async fn create_collection(&self, collection: &Collection) -> Result<()> {
                    let mut conn = self.conn().await?;
                    diesel::insert_into(collections::table)
                        .values(CollectionRow::from(collection))
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| match e {
                            diesel::result::Error::DatabaseError(
                                diesel::result::DatabaseErrorKind::UniqueViolation,
                                _,
                            ) => Error::CollectionExists(collection.name.clone()),
                            other => db_error(other),
                        })?;
                    Ok(())
                }

                async fn collection(&self, name: &str) -> Result<Option<Collection>> {
                    let mut conn = self.conn().await?;
                    let rows = collections::table
                        .filter(collections::name.eq(name))
                        .select(CollectionRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    Ok(with_person_counts(&mut *conn, rows).await?.pop())
                }

                async fn collections(&self) -> Result<Vec<Collection>> {
                    let mut conn = self.conn().await?;
                    let rows = collections::table
                        .order(collections::name)
                        .select(CollectionRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    with_person_counts(&mut *conn, rows).await
                }

                async fn delete_collection(
                    &self,
                    name: &str,
                    delete_persons: bool,
                    before_commit: BeforeCommit<'_>,
                ) -> Result<Option<Vec<String>>> {
                    let mut conn = self.conn().await?;
                    let name = name.to_string();
                    conn.transaction::<_, Error, _>(async move |conn| {
                        // A write to the collection's row first: concurrent
                        // deletes of it, and persons being added to it (their
                        // foreign key reads the row), wait for this one.
                        diesel::update(collections::table.filter(collections::name.eq(&name)))
                            .set(collections::created_at.eq(collections::created_at))
                            .execute(conn)
                            .await
                            .map_err(db_error)?;
                        let persons_in: Vec<String> = persons::table
                            .filter(persons::collection.eq(&name))
                            .select(persons::id)
                            .load(conn)
                            .await
                            .map_err(db_error)?;
                        let exists: i64 = collections::table
                            .filter(collections::name.eq(&name))
                            .count()
                            .get_result(conn)
                            .await
                            .map_err(db_error)?;
                        if exists == 0 {
                            return Ok(None);
                        }
                        if !persons_in.is_empty() && !delete_persons {
                            return Err(Error::CollectionNotEmpty {
                                name: name.clone(),
                                persons: persons_in.len(),
                            });
                        }
                        let faces = face_rows(
                            conn,
                            faces::table.filter(faces::collection.eq(&name)).into_boxed(),
                        )
                        .await?;
                        diesel::delete(faces::table.filter(faces::collection.eq(&name)))
                            .execute(conn)
                            .await
                            .map_err(db_error)?;
                        diesel::delete(persons::table.filter(persons::collection.eq(&name)))
                            .execute(conn)
                            .await
                            .map_err(db_error)?;
                        diesel::delete(collections::table.filter(collections::name.eq(&name)))
                            .execute(conn)
                            .await
                            .map_err(db_error)?;
                        before_commit(faces).await?;
                        Ok(Some(persons_in))
                    })
                    .await
                }

                async fn create_person(&self, person: &Person) -> Result<()> {
                    let mut conn = self.conn().await?;
                    insert_person(&mut *conn, person).await
                }

                async fn person(&self, id: &str) -> Result<Option<Person>> {
                    Ok(self.persons(&[id.to_string()]).await?.pop())
                }

                async fn persons(&self, ids: &[String]) -> Result<Vec<Person>> {
                    let mut conn = self.conn().await?;
                    let rows = persons::table
                        .filter(persons::id.eq_any(ids))
                        .select(PersonRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    with_face_counts(&mut *conn, rows).await
                }

                async fn list_persons(
                    &self,
                    collection: &str,
                    after: Option<&str>,
                    limit: usize,
                ) -> Result<Vec<Person>> {
                    let mut conn = self.conn().await?;
                    let rows = persons::table
                        .filter(persons::collection.eq(collection))
                        .filter(persons::id.gt(after.unwrap_or("")))
                        .order(persons::id)
                        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                        .select(PersonRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    with_face_counts(&mut *conn, rows).await
                }

                async fn update_person(&self, person: &Person) -> Result<bool> {
                    let mut conn = self.conn().await?;
                    let updated = diesel::update(persons::table.find(&person.id))
                        .set(PersonRow::from(person))
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| person_write_error(e, person))?;
                    Ok(updated == 1)
                }

                async fn delete_person(
                    &self,
                    id: &str,
                    before_commit: BeforeCommit<'_>,
                ) -> Result<Option<Vec<Face>>> {
                    let mut conn = self.conn().await?;
                    let id = id.to_string();
                    conn.transaction::<_, Error, _>(async move |conn| {
                        let faces = face_rows(
                            conn,
                            faces::table.filter(faces::person_id.eq(&id)).into_boxed(),
                        )
                        .await?;
                        diesel::delete(faces::table.filter(faces::person_id.eq(&id)))
                            .execute(conn)
                            .await
                            .map_err(db_error)?;
                        let deleted = diesel::delete(persons::table.find(&id))
                            .execute(conn)
                            .await
                            .map_err(db_error)?;
                        if deleted == 0 {
                            return Ok(None);
                        }
                        before_commit(faces.clone()).await?;
                        Ok(Some(faces))
                    })
                    .await
                }

                async fn add_faces(
                    &self,
                    new_person: Option<&Person>,
                    faces: &[Face],
                    before_commit: BeforeCommit<'_>,
                ) -> Result<()> {
                    let mut conn = self.conn().await?;
                    let rows: Vec<FaceRow> = faces.iter().map(FaceRow::from).collect();
                    conn.transaction::<_, Error, _>(async move |conn| {
                        if let Some(person) = new_person {
                            insert_person(conn, person).await?;
                        }
                        for row in &rows {
                            diesel::insert_into(faces::table)
                                .values(row)
                                .execute(conn)
                                .await
                                .map_err(|e| face_write_error(e, &row.person_id))?;
                        }
                        before_commit(faces.to_vec()).await
                    })
                    .await
                }

                async fn faces_of(&self, person_id: &str) -> Result<Vec<Face>> {
                    let mut conn = self.conn().await?;
                    let query = faces::table
                        .filter(faces::person_id.eq(person_id))
                        .order(faces::id)
                        .into_boxed();
                    face_rows(&mut *conn, query).await
                }

                async fn delete_face(&self, id: &str, before_commit: BeforeCommit<'_>) -> Result<bool> {
                    let mut conn = self.conn().await?;
                    let id = id.to_string();
                    conn.transaction::<_, Error, _>(async move |conn| {
                        let faces =
                            face_rows(conn, faces::table.filter(faces::id.eq(&id)).into_boxed()).await?;
                        if faces.is_empty() {
                            return Ok(false);
                        }
                        diesel::delete(faces::table.find(&id))
                            .execute(conn)
                            .await
                            .map_err(db_error)?;
                        before_commit(faces).await?;
                        Ok(true)
                    })
                    .await
                }

                async fn existing_faces(&self, ids: &[String]) -> Result<Vec<String>> {
                    let mut conn = self.conn().await?;
                    faces::table
                        .filter(faces::id.eq_any(ids))
                        .select(faces::id)
                        .load(&mut *conn)
                        .await
                        .map_err(db_error)
                }

                async fn faces_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<Face>> {
                    let mut conn = self.conn().await?;
                    let query = faces::table
                        .filter(faces::id.gt(after.unwrap_or("").to_string()))
                        .order(faces::id)
                        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                        .into_boxed();
                    face_rows(&mut *conn, query).await
                }
            }

            async fn insert_person(conn: &mut $conn, person: &Person) -> Result<()> {
                diesel::insert_into(persons::table)
                    .values(PersonRow::from(person))
                    .execute(conn)
                    .await
                    .map_err(|e| person_write_error(e, person))?;
                Ok(())
            }

            async fn face_rows(
                conn: &mut $conn,
                query: faces::BoxedQuery<'_, $backend>,
            ) -> Result<Vec<Face>> {
                let rows = query
                    .select(FaceRow::as_select())
                    .load(conn)
                    .await
                    .map_err(db_error)?;
                rows.into_iter().map(Face::try_from).collect()
            }

            async fn with_person_counts(
                conn: &mut $conn,
                rows: Vec<CollectionRow>,
            ) -> Result<Vec<Collection>> {
                let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
                let counts: HashMap<String, i64> = persons::table
                    .filter(persons::collection.eq_any(&names))
                    .group_by(persons::collection)
                    .select((persons::collection, diesel::dsl::count_star()))
                    .load::<(String, i64)>(conn)
                    .await
                    .map_err(db_error)?
                    .into_iter()
                    .collect();
                Ok(rows
                    .into_iter()
                    .map(|row| {
                        let count = counts.get(&row.name).copied().unwrap_or(0);
                        let mut collection = Collection::from(row);
                        collection.person_count = u32::try_from(count).unwrap_or(u32::MAX);
                        collection
                    })
                    .collect())
            }

            async fn with_face_counts(conn: &mut $conn, rows: Vec<PersonRow>) -> Result<Vec<Person>> {
                let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
                let counts: HashMap<String, i64> = faces::table
                    .filter(faces::person_id.eq_any(&ids))
                    .group_by(faces::person_id)
                    .select((faces::person_id, diesel::dsl::count_star()))
                    .load::<(String, i64)>(conn)
                    .await
                    .map_err(db_error)?
                    .into_iter()
                    .collect();

                rows.into_iter()
                    .map(|row| {
                        let count = counts.get(&row.id).copied().unwrap_or(0);
                        let mut person = Person::try_from(row)?;
                        person.face_count = u32::try_from(count).unwrap_or(u32::MAX);
                        Ok(person)
                    })
                    .collect()
            }
        }
    };
}

pub(super) use diesel_records;

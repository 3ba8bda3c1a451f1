//! Person records: create, read, list, update, delete.

use std::collections::BTreeMap;

use std::sync::Arc;

use super::{detached, faces::delete_vectors, FaceBank};
use crate::{
    domain::{new_id, now_micros, Collection, Person},
    error::{Error, Result},
    ports::index::IndexEntry,
};

const MAX_TEXT: usize = 256;
const MAX_ATTRIBUTES: usize = 64;
const MAX_ATTRIBUTE_VALUE: usize = 4096;
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 1000;

/// A field of a person that an update may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonField {
    ExternalId,
    Name,
    Birthdate,
    Country,
    City,
    Title,
    Org,
    Attributes,
}

impl PersonField {
    pub const ALL: [PersonField; 8] = [
        PersonField::ExternalId,
        PersonField::Name,
        PersonField::Birthdate,
        PersonField::Country,
        PersonField::City,
        PersonField::Title,
        PersonField::Org,
        PersonField::Attributes,
    ];

    /// The field's name in the API (and in update masks).
    pub fn name(self) -> &'static str {
        match self {
            PersonField::ExternalId => "external_id",
            PersonField::Name => "name",
            PersonField::Birthdate => "birthdate",
            PersonField::Country => "country",
            PersonField::City => "city",
            PersonField::Title => "title",
            PersonField::Org => "org",
            PersonField::Attributes => "attributes",
        }
    }

    pub fn parse(path: &str) -> Option<PersonField> {
        PersonField::ALL.into_iter().find(|f| f.name() == path)
    }

    fn copy(self, from: &Person, to: &mut Person) {
        match self {
            PersonField::ExternalId => to.external_id.clone_from(&from.external_id),
            PersonField::Name => to.name.clone_from(&from.name),
            PersonField::Birthdate => to.birthdate.clone_from(&from.birthdate),
            PersonField::Country => to.country.clone_from(&from.country),
            PersonField::City => to.city.clone_from(&from.city),
            PersonField::Title => to.title.clone_from(&from.title),
            PersonField::Org => to.org.clone_from(&from.org),
            PersonField::Attributes => to.attributes.clone_from(&from.attributes),
        }
    }

    fn is_set(self, p: &Person) -> bool {
        match self {
            PersonField::ExternalId => p.external_id.is_some(),
            PersonField::Name => !p.name.is_empty(),
            PersonField::Birthdate => !p.birthdate.is_empty(),
            PersonField::Country => !p.country.is_empty(),
            PersonField::City => !p.city.is_empty(),
            PersonField::Title => !p.title.is_empty(),
            PersonField::Org => !p.org.is_empty(),
            PersonField::Attributes => !p.attributes.is_empty(),
        }
    }
}

pub struct PersonPage {
    pub persons: Vec<Person>,
    /// Empty on the last page.
    pub next_page_token: String,
}

impl FaceBank {
    pub async fn create_person(&self, fields: Person) -> Result<Person> {
        let collection = self
            .collection_in("person.collection", &fields.collection)
            .await?;
        let person = new_person(fields, &collection)?;
        self.records.create_person(&person).await?;
        Ok(person)
    }

    pub async fn get_person(&self, id: &str) -> Result<Person> {
        self.person_in("id", id).await
    }

    /// The person whose id the request field `field` holds.
    pub(super) async fn person_in(&self, field: &str, id: &str) -> Result<Person> {
        check_id(field, id)?;
        self.records
            .person(id)
            .await?
            .ok_or_else(|| Error::PersonNotFound(id.to_string()))
    }

    pub async fn list_persons(
        &self,
        collection: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<PersonPage> {
        let collection = self.collection_in("collection", collection).await?;
        let limit = match page_size {
            ..0 => return Err(Error::invalid("page_size", "must not be negative")),
            0 => DEFAULT_PAGE,
            n => (n as usize).min(MAX_PAGE),
        };
        let after = match page_token {
            "" => None,
            token => Some(decode_page_token(token)?),
        };

        let mut persons = self
            .records
            .list_persons(&collection.name, after.as_deref(), limit + 1)
            .await?;
        let next_page_token = if persons.len() > limit {
            persons.truncate(limit);
            persons
                .last()
                .map(|p| encode_page_token(&p.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(PersonPage {
            persons,
            next_page_token,
        })
    }

    /// Overwrites the named fields; with no fields named, every field the
    /// caller set (non-empty) is overwritten.
    pub async fn update_person(
        &self,
        id: &str,
        changes: Person,
        mask: &[PersonField],
    ) -> Result<Person> {
        let mut person = self.person_in("person.id", id).await?;
        if !changes.collection.is_empty() && changes.collection != person.collection {
            return Err(Error::invalid(
                "person.collection",
                "a person stays in the collection they were created in",
            ));
        }

        let fields: Vec<PersonField> = if mask.is_empty() {
            PersonField::ALL
                .into_iter()
                .filter(|f| f.is_set(&changes))
                .collect()
        } else {
            mask.to_vec()
        };
        for field in fields {
            field.copy(&changes, &mut person);
        }
        // Only the result is checked: a field the mask leaves out may hold anything.
        let mut person = validated(person)?;
        person.updated_at = now_micros().max(person.updated_at);

        if !self.records.update_person(&person).await? {
            return Err(Error::PersonNotFound(id.to_string()));
        }
        Ok(person)
    }

    /// Deletes the person, their faces and their vectors; returns how many
    /// faces went with them.
    pub async fn delete_person(&self, id: &str) -> Result<usize> {
        check_id("id", id)?;
        let (records, index, person_id) = (
            Arc::clone(&self.records),
            Arc::clone(&self.index),
            id.to_string(),
        );
        let deleted = detached(async move {
            records
                .delete_person(
                    &person_id,
                    Box::new(|faces| Box::pin(delete_vectors(&index, faces))),
                )
                .await
        })
        .await;
        match deleted {
            Ok(Some(faces)) => Ok(faces.len()),
            Ok(None) => Err(Error::PersonNotFound(id.to_string())),
            Err(error) => {
                self.restore_vectors_of(id).await;
                Err(error)
            }
        }
    }

    /// After a failed delete the rows may remain while their vectors are gone;
    /// put back the vectors of whatever rows remain.
    async fn restore_vectors_of(&self, person_id: &str) {
        let Ok(faces) = self.records.faces_of(person_id).await else {
            return;
        };
        let entries = faces.into_iter().map(IndexEntry::from).collect();
        if let Err(error) = self.index.upsert(entries).await {
            tracing::warn!(%error, person_id, "Could not restore vectors after a failed delete");
        }
    }
}

/// A new person of `collection` from the caller's fields, with id and times
/// set.
pub(super) fn new_person(fields: Person, collection: &Collection) -> Result<Person> {
    let now = now_micros();
    Ok(Person {
        id: new_id(),
        collection: collection.name.clone(),
        created_at: now,
        updated_at: now,
        face_count: 0,
        ..validated(fields)?
    })
}

fn validated(mut p: Person) -> Result<Person> {
    if let Some(external_id) = &p.external_id {
        let trimmed = external_id.trim();
        if trimmed.is_empty() {
            p.external_id = None;
        } else {
            check_text("external_id", trimmed)?;
            p.external_id = Some(trimmed.to_string());
        }
    }
    for (field, value) in [
        ("name", &p.name),
        ("country", &p.country),
        ("city", &p.city),
        ("title", &p.title),
        ("org", &p.org),
    ] {
        check_text(field, value)?;
    }
    check_birthdate(&p.birthdate)?;
    check_attributes(&p.attributes)?;
    Ok(p)
}

fn check_text(field: &str, value: &str) -> Result<()> {
    if value.chars().count() > MAX_TEXT {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_TEXT} characters are allowed"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "control characters are not allowed"));
    }
    Ok(())
}

fn check_birthdate(value: &str) -> Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    let invalid = || {
        Error::invalid(
            "birthdate",
            format!("{value:?} is not a date of the form YYYY-MM-DD"),
        )
    };
    let parts: Vec<&str> = value.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Err(invalid());
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(year, 4) || !digits(month, 2) || !digits(day, 2) {
        return Err(invalid());
    }
    let number = |s: &str| s.parse::<u32>().map_err(|_| invalid());
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    if year == 0 {
        return Err(invalid());
    }

    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(invalid()),
    };
    if day == 0 || day > days {
        return Err(invalid());
    }
    // A day of slack: somewhere on Earth it is already tomorrow.
    let latest = civil_date(crate::domain::now_micros().div_euclid(86_400_000_000) + 1);
    if (year, month, day) > latest {
        return Err(Error::invalid(
            "birthdate",
            format!("{value:?} is in the future"),
        ));
    }
    Ok(())
}

/// The proleptic Gregorian (year, month, day) of a day counted from
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days: i64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (u32::try_from(year).unwrap_or(0), month as u32, day as u32)
}

fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<()> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(Error::invalid(
            "attributes",
            format!("at most {MAX_ATTRIBUTES} entries are allowed"),
        ));
    }
    for (key, value) in attributes {
        if key.is_empty() || key.len() > MAX_TEXT || key.chars().any(char::is_control) {
            return Err(Error::invalid(
                "attributes",
                format!("key {key:?} must have 1 to {MAX_TEXT} bytes and no control characters"),
            ));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Error::invalid(
                "attributes",
                format!("the value of {key:?} holds control characters"),
            ));
        }
        if value.len() > MAX_ATTRIBUTE_VALUE {
            return Err(Error::invalid(
                "attributes",
                format!("the value of {key:?} is longer than {MAX_ATTRIBUTE_VALUE} bytes"),
            ));
        }
    }
    Ok(())
}

/// Ids are UUIDs in their canonical form (lowercase, hyphenated); anything
/// else cannot exist and is refused early.
pub(super) fn check_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if !is_canonical_id(id) {
        return Err(Error::invalid(
            field,
            format!("{id:?} is not a facebank id (a UUID, lowercase and hyphenated)"),
        ));
    }
    Ok(())
}

fn is_canonical_id(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok_and(|uuid| uuid.hyphenated().to_string() == id)
}

/// The token is the last id of the page, so pages stay stable when persons
/// are added or removed between calls.
fn encode_page_token(last_id: &str) -> String {
    format!("after:{last_id}")
}

fn decode_page_token(token: &str) -> Result<String> {
    token
        .strip_prefix("after:")
        .filter(|id| is_canonical_id(id))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::invalid(
                "page_token",
                "not a token from a previous ListPersons reply",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birthdates_must_be_real_calendar_dates() {
        assert!(check_birthdate("1961-08-04").is_ok());
        assert!(check_birthdate("2000-02-29").is_ok());
        assert!(check_birthdate("1900-02-29").is_err());
        assert!(check_birthdate("1961-13-01").is_err());
        assert!(check_birthdate("61-08-04").is_err());
        assert!(check_birthdate("yesterday").is_err());
        assert!(check_birthdate("+990-02-03").is_err());
        assert!(check_birthdate("1990-+2-+3").is_err());
        assert!(check_birthdate("0000-01-01").is_err());
        assert!(check_birthdate("3000-01-01").is_err());
        assert!(check_birthdate("9999-12-31").is_err());
    }

    #[test]
    fn days_since_the_epoch_become_calendar_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_791), (2026, 12, 4));
    }

    #[test]
    fn ids_must_be_canonical_uuids() {
        let id = uuid::Uuid::now_v7().to_string();
        assert!(check_id("id", &id).is_ok());
        assert!(check_id("id", &id.to_uppercase()).is_err());
        assert!(check_id("id", &id.replace('-', "")).is_err());
        assert!(check_id("id", &format!("urn:uuid:{id}")).is_err());
    }

    #[test]
    fn attributes_refuse_control_characters_but_values_keep_line_breaks() {
        let with = |k: &str, v: &str| check_attributes(&[(k.to_string(), v.to_string())].into());
        assert!(with("note", "line one\nline two").is_ok());
        assert!(with("k\u{0}", "v").is_err());
        assert!(with("k", "v\u{0}").is_err());
    }

    #[test]
    fn an_empty_external_id_means_none() {
        let p = validated(Person {
            external_id: Some("  ".into()),
            ..Person::default()
        })
        .unwrap();
        assert_eq!(p.external_id, None);
    }
}

//! The cache port: person records by id, in front of the records port.
//!
//! [`CachedRecords`] wraps any [`Records`] and answers person reads from a
//! [`PersonCache`] where it can. The cache is never needed for correctness:
//! when it fails, reads go to the database, the failure is logged, and the
//! cache's own health entry says so.
//!
//! A read after a write never sees the old record. Each cached person has a
//! write generation beside it: a write bumps it and drops the entry after its
//! transaction commits, and a reader stores what it read from the database
//! only if the generation is still the one it saw before reading. An
//! invalidation that fails (the cache is down) is kept and retried before the
//! cache is read again; until it succeeds, reads bypass the cache. After a
//! failed read the cache is left alone for [`BACKOFF`], so that an outage
//! costs one request a second a timeout, not every request.

mod redis;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;

pub use self::redis::RedisCache;
use super::records::{BeforeCommit, Records};
use crate::{
    domain::{Collection, Face, Person},
    error::Result,
};

/// How long reads bypass the cache after it failed one.
pub const BACKOFF: Duration = Duration::from_secs(1);

/// What the cache holds for one id.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Hit(Person),
    /// Not cached. The token is the id's write generation at the time of the
    /// look-up, to hand back to [`PersonCache::fill`].
    Miss(String),
}

#[async_trait]
pub trait PersonCache: Send + Sync + 'static {
    /// The name of the backend, for logs and the health entry.
    fn backend(&self) -> &'static str;

    /// One look-up for each id, in order, in one round trip.
    async fn get(&self, ids: &[String]) -> Result<Vec<Lookup>>;

    /// Stores persons read from the database, each with the token its
    /// look-up returned; a person written since that look-up is not stored.
    async fn fill(&self, persons: &[(Person, String)]) -> Result<()>;

    /// Drops the entries and bumps their write generations.
    async fn invalidate(&self, ids: &[String]) -> Result<()>;

    /// Whether the backend answers.
    async fn check(&self) -> Result<()>;
}

/// The value behind a lock. Every critical section here is one plain update,
/// so a panic elsewhere cannot leave it half done: a poisoned lock is used as
/// it is.
fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records whose person reads go through a cache.
pub struct CachedRecords {
    records: Arc<dyn Records>,
    cache: Arc<dyn PersonCache>,
    /// Invalidations that failed, retried before the cache is read again.
    pending: Mutex<HashSet<String>>,
    /// Reads bypass the cache until then, after a failure.
    bypass_until: Mutex<Option<Instant>>,
}

impl CachedRecords {
    pub fn new(records: Arc<dyn Records>, cache: Arc<dyn PersonCache>) -> Self {
        CachedRecords {
            records,
            cache,
            pending: Mutex::new(HashSet::new()),
            bypass_until: Mutex::new(None),
        }
    }

    /// After a committed write: drops the persons from the cache, or keeps
    /// them for a later try when the cache cannot be reached.
    async fn invalidate(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        if let Err(error) = self.cache.invalidate(&ids).await {
            tracing::warn!(backend = self.cache.backend(), %error, "Cache invalidation failed; the cache is bypassed until it succeeds");
            locked(&self.pending).extend(ids);
        }
    }

    /// Whether the cache may be read: no invalidation is outstanding, or the
    /// outstanding ones went through now.
    async fn cache_is_current(&self) -> bool {
        let pending: Vec<String> = locked(&self.pending).iter().cloned().collect();
        if pending.is_empty() {
            return true;
        }
        match self.cache.invalidate(&pending).await {
            Ok(()) => {
                let mut outstanding = locked(&self.pending);
                for id in &pending {
                    outstanding.remove(id);
                }
                tracing::info!(
                    backend = self.cache.backend(),
                    "Outstanding cache invalidations went through"
                );
                outstanding.is_empty()
            }
            Err(_) => false,
        }
    }

    async fn persons_through_cache(&self, ids: &[String]) -> Result<Vec<Person>> {
        let backing_off = locked(&self.bypass_until).is_some_and(|until| Instant::now() < until);
        if backing_off {
            return self.records.persons(ids).await;
        }
        if !self.cache_is_current().await {
            *locked(&self.bypass_until) = Some(Instant::now() + BACKOFF);
            return self.records.persons(ids).await;
        }
        let lookups = match self.cache.get(ids).await {
            Ok(lookups) => lookups,
            Err(error) => {
                tracing::warn!(backend = self.cache.backend(), %error, "Cache read failed; reading the database");
                *locked(&self.bypass_until) = Some(Instant::now() + BACKOFF);
                return self.records.persons(ids).await;
            }
        };
        let mut found = Vec::with_capacity(ids.len());
        let mut missing: HashMap<String, String> = HashMap::new();
        for (id, lookup) in ids.iter().zip(lookups) {
            match lookup {
                Lookup::Hit(person) => found.push(person),
                Lookup::Miss(token) => {
                    missing.insert(id.clone(), token);
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let wanted: Vec<String> = missing.keys().cloned().collect();
        let read = self.records.persons(&wanted).await?;
        let fills: Vec<(Person, String)> = read
            .iter()
            .filter_map(|person| Some((person.clone(), missing.remove(&person.id)?)))
            .collect();
        if let Err(error) = self.cache.fill(&fills).await {
            tracing::warn!(backend = self.cache.backend(), %error, "Cache fill failed");
        }
        found.extend(read);
        Ok(found)
    }
}

#[async_trait]
impl Records for CachedRecords {
    async fn create_person(&self, person: &Person) -> Result<()> {
        self.records.create_person(person).await
    }

    async fn person(&self, id: &str) -> Result<Option<Person>> {
        Ok(self
            .persons_through_cache(&[id.to_string()])
            .await?
            .into_iter()
            .next())
    }

    async fn persons(&self, ids: &[String]) -> Result<Vec<Person>> {
        let unique: Vec<String> = ids
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        self.persons_through_cache(&unique).await
    }

    async fn create_collection(&self, collection: &Collection) -> Result<()> {
        self.records.create_collection(collection).await
    }

    async fn collection(&self, name: &str) -> Result<Option<Collection>> {
        self.records.collection(name).await
    }

    async fn collections(&self) -> Result<Vec<Collection>> {
        self.records.collections().await
    }

    async fn delete_collection(
        &self,
        name: &str,
        delete_persons: bool,
        before_commit: BeforeCommit<'_>,
    ) -> Result<Option<Vec<String>>> {
        let deleted = self
            .records
            .delete_collection(name, delete_persons, before_commit)
            .await;
        if let Ok(Some(ids)) = &deleted {
            self.invalidate(ids.clone()).await;
        }
        deleted
    }

    async fn list_persons(
        &self,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Person>> {
        self.records.list_persons(collection, after, limit).await
    }

    async fn update_person(&self, person: &Person) -> Result<bool> {
        let updated = self.records.update_person(person).await;
        self.invalidate(vec![person.id.clone()]).await;
        updated
    }

    async fn delete_person(
        &self,
        id: &str,
        before_commit: BeforeCommit<'_>,
    ) -> Result<Option<Vec<Face>>> {
        let deleted = self.records.delete_person(id, before_commit).await;
        self.invalidate(vec![id.to_string()]).await;
        deleted
    }

    async fn add_faces(
        &self,
        new_person: Option<&Person>,
        faces: &[Face],
        before_commit: BeforeCommit<'_>,
    ) -> Result<()> {
        let added = self
            .records
            .add_faces(new_person, faces, before_commit)
            .await;
        // The face count is part of a cached person.
        let owners: HashSet<String> = faces.iter().map(|f| f.person_id.clone()).collect();
        self.invalidate(owners.into_iter().collect()).await;
        added
    }

    async fn faces_of(&self, person_id: &str) -> Result<Vec<Face>> {
        self.records.faces_of(person_id).await
    }

    async fn delete_face(&self, id: &str, before_commit: BeforeCommit<'_>) -> Result<bool> {
        // The owner is known only inside the transaction: note it on the way.
        let owners = Arc::new(Mutex::new(Vec::new()));
        let noted = Arc::clone(&owners);
        let before_commit: BeforeCommit<'_> = Box::new(move |faces: Vec<Face>| {
            locked(&noted).extend(faces.iter().map(|f| f.person_id.clone()));
            before_commit(faces)
        });
        let deleted = self.records.delete_face(id, before_commit).await;
        let owners = std::mem::take(&mut *locked(&owners));
        self.invalidate(owners).await;
        deleted
    }

    async fn faces_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<Face>> {
        self.records.faces_page(after, limit).await
    }

    async fn existing_faces(&self, ids: &[String]) -> Result<Vec<String>> {
        self.records.existing_faces(ids).await
    }

    fn backend(&self) -> Option<&'static str> {
        self.records.backend()
    }

    async fn check(&self) -> Result<()> {
        self.records.check().await
    }
}

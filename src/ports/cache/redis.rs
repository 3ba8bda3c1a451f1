//! The person cache in Redis, through a `bb8-redis` pool.
//!
//! Keys, under the configured prefix: `person:v2:{id}` holds the person as
//! JSON of [`CachedPerson`] with the configured TTL; `person-gen:{id}` is the
//! id's write generation, bumped by every invalidation. A fill is one Lua
//! script that stores each person only while its generation is unchanged.

use std::{collections::BTreeMap, future::Future, time::Duration};

use async_trait::async_trait;
use bb8_redis::{
    bb8::Pool,
    redis::{self, aio::MultiplexedConnection, RedisError},
    RedisConnectionManager,
};
use serde::{Deserialize, Serialize};

use super::{Lookup, PersonCache};
use crate::{
    config::RedisConfig,
    domain::Person,
    error::{Error, Result},
};

const BACKEND: &str = "redis";

/// How long a write generation is kept after its last bump. A reader that
/// takes longer than this between its look-up and its fill could store a
/// record written meanwhile; no read takes a day.
const GENERATION_TTL_S: u64 = 24 * 3600;

/// Stores each person whose generation is still the reader's token.
/// KEYS: person key, generation key, for each person.
/// ARGV: TTL in seconds, then value and token for each person.
const FILL_SCRIPT: &str = r"
for i = 1, #KEYS, 2 do
  local generation = redis.call('GET', KEYS[i + 1]) or ''
  if generation == ARGV[i + 2] then
    redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1])
  end
end
return 0
";

/// The cached form of a person: its own type, so that the domain type can
/// change without old entries being misread (the key names the version).
#[derive(Serialize, Deserialize)]
struct CachedPerson {
    id: String,
    collection: String,
    external_id: Option<String>,
    name: String,
    birthdate: String,
    country: String,
    city: String,
    title: String,
    org: String,
    attributes: BTreeMap<String, String>,
    created_at: i64,
    updated_at: i64,
    face_count: u32,
}

impl From<&Person> for CachedPerson {
    fn from(p: &Person) -> Self {
        CachedPerson {
            id: p.id.clone(),
            collection: p.collection.clone(),
            external_id: p.external_id.clone(),
            name: p.name.clone(),
            birthdate: p.birthdate.clone(),
            country: p.country.clone(),
            city: p.city.clone(),
            title: p.title.clone(),
            org: p.org.clone(),
            attributes: p.attributes.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
            face_count: p.face_count,
        }
    }
}

impl From<CachedPerson> for Person {
    fn from(c: CachedPerson) -> Self {
        Person {
            id: c.id,
            collection: c.collection,
            external_id: c.external_id,
            name: c.name,
            birthdate: c.birthdate,
            country: c.country,
            city: c.city,
            title: c.title,
            org: c.org,
            attributes: c.attributes,
            created_at: c.created_at,
            updated_at: c.updated_at,
            face_count: c.face_count,
        }
    }
}

pub struct RedisCache {
    pool: Pool<RedisConnectionManager>,
    prefix: String,
    ttl_s: u64,
    timeout: Duration,
}

impl RedisCache {
    /// Makes the pool without connecting: a cache that is down at start is
    /// only a slower facebank, not a broken one.
    pub fn new(config: &RedisConfig) -> Result<Self> {
        let manager = RedisConnectionManager::new(config.url.as_str())
            .map_err(|e| Error::invalid("redis.url", e.to_string()))?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let pool = Pool::builder()
            .max_size(config.pool_size)
            .connection_timeout(timeout)
            // A refused connection or a wrong password is reported as such at
            // once, not as a timeout after retrying.
            .retry_connection(false)
            .build_unchecked(manager);
        Ok(RedisCache {
            pool,
            prefix: config.key_prefix.clone(),
            ttl_s: config.ttl_s,
            timeout,
        })
    }

    fn person_key(&self, id: &str) -> String {
        format!("{}person:v2:{id}", self.prefix)
    }

    fn generation_key(&self, id: &str) -> String {
        format!("{}person-gen:{id}", self.prefix)
    }

    /// Runs one exchange on a pooled connection within the timeout.
    async fn with_connection<T, F, Fut>(&self, exchange: F) -> Result<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = std::result::Result<T, RedisError>>,
    {
        let work = async {
            let conn = self
                .pool
                .get()
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            exchange(conn.clone())
                .await
                .map_err(|e| unavailable(e.to_string()))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| unavailable(format!("no answer within {:?}", self.timeout)))?
    }
}

fn unavailable(message: String) -> Error {
    Error::Unavailable {
        backend: BACKEND,
        message,
    }
}

#[async_trait]
impl PersonCache for RedisCache {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, ids: &[String]) -> Result<Vec<Lookup>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys: Vec<String> = ids.iter().map(|id| self.person_key(id)).collect();
        keys.extend(ids.iter().map(|id| self.generation_key(id)));
        let values: Vec<Option<Vec<u8>>> = self
            .with_connection(|mut conn| async move {
                redis::cmd("MGET").arg(&keys).query_async(&mut conn).await
            })
            .await?;
        let (persons, generations) = values.split_at(ids.len());
        Ok(persons
            .iter()
            .zip(generations)
            .map(|(person, generation)| {
                let cached = person
                    .as_deref()
                    .and_then(|bytes| serde_json::from_slice::<CachedPerson>(bytes).ok());
                match cached {
                    Some(person) => Lookup::Hit(person.into()),
                    None => Lookup::Miss(
                        generation
                            .as_deref()
                            .map(|g| String::from_utf8_lossy(g).into_owned())
                            .unwrap_or_default(),
                    ),
                }
            })
            .collect())
    }

    async fn fill(&self, persons: &[(Person, String)]) -> Result<()> {
        if persons.is_empty() {
            return Ok(());
        }
        let mut script = redis::cmd("EVAL");
        script.arg(FILL_SCRIPT).arg(persons.len() * 2);
        for (person, _) in persons {
            script
                .arg(self.person_key(&person.id))
                .arg(self.generation_key(&person.id));
        }
        script.arg(self.ttl_s);
        for (person, token) in persons {
            let value = serde_json::to_vec(&CachedPerson::from(person)).map_err(Error::internal)?;
            script.arg(value).arg(token);
        }
        self.with_connection(|mut conn| async move { script.query_async::<()>(&mut conn).await })
            .await
    }

    async fn invalidate(&self, ids: &[String]) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in ids {
            let generation = self.generation_key(id);
            pipe.incr(&generation, 1)
                .ignore()
                .expire(&generation, GENERATION_TTL_S as i64)
                .ignore()
                .del(self.person_key(id))
                .ignore();
        }
        self.with_connection(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
            .await
    }

    async fn check(&self) -> Result<()> {
        self.with_connection(|mut conn| async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        })
        .await
        .map(drop)
    }
}

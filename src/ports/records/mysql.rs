//! Records in MySQL or MariaDB through diesel-async, with a bb8 pool. The
//! queries are the SQLite backend's (`queries.rs`); only the connection and the
//! migrations differ.

use std::time::Duration;

use diesel::sql_types::Text;
use diesel_async::{
    pooled_connection::{
        bb8::{Pool, PooledConnection, RunError},
        AsyncDieselConnectionManager,
    },
    AsyncConnection, AsyncMigrationHarness, AsyncMysqlConnection, RunQueryDsl,
    SimpleAsyncConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::rows::unavailable;
use crate::{
    config::DatabaseConfig,
    error::{Error, Result},
};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// Serialises migrations when several facebank processes start at once.
const MIGRATION_LOCK: &str = "facebank.migrations";

type Conn = AsyncMysqlConnection;

pub struct MysqlRecords {
    pool: Pool<Conn>,
}

impl MysqlRecords {
    /// A pool for `config.url`. No connection is made yet; [`Self::migrate`]
    /// or the first call makes one.
    pub fn new(config: &DatabaseConfig) -> Result<Self> {
        let manager = AsyncDieselConnectionManager::<Conn>::new(config.url.as_str());
        let pool = Pool::builder()
            .max_size(config.pool_size.max(1))
            .connection_timeout(Duration::from_millis(config.timeout_ms.max(1)))
            // Report why a connection failed at once, instead of retrying
            // until the deadline and saying only that it passed.
            .retry_connection(false)
            .build_unchecked(manager);
        Ok(MysqlRecords { pool })
    }

    /// Applies the pending migrations under `migrations/mysql`, holding a
    /// server-side lock so that concurrent starts take turns. Returns the
    /// versions it applied.
    pub async fn migrate(&self, url: &str) -> Result<Vec<String>> {
        let mut conn = Conn::establish(url)
            .await
            .map_err(|e| unavailable(format!("cannot connect: {e}")))?;
        let locked: Option<i32> = diesel::select(get_lock(MIGRATION_LOCK, 60))
            .get_result(&mut conn)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if locked != Some(1) {
            return Err(unavailable(
                "another process held the migration lock for 60 s".into(),
            ));
        }
        let (conn, applied) = tokio::task::spawn_blocking(move || {
            let mut harness = AsyncMigrationHarness::new(conn);
            let applied = harness
                .run_pending_migrations(MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>());
            (harness.into_inner(), applied)
        })
        .await
        .map_err(|e| Error::Internal(format!("the migration task failed: {e}")))?;
        let mut conn = conn;
        // The lock also ends with the session; this only frees it sooner.
        let _ = conn
            .batch_execute(&format!("DO RELEASE_LOCK('{MIGRATION_LOCK}')"))
            .await;
        applied.map_err(|e| Error::Internal(format!("cannot migrate the database: {e}")))
    }

    /// A round trip on a pooled connection.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        conn.batch_execute("SELECT 1")
            .await
            .map_err(|e| unavailable(e.to_string()))
    }

    async fn conn(&self) -> Result<PooledConnection<'_, Conn>> {
        self.pool.get().await.map_err(|error| match error {
            RunError::User(e) => unavailable(format!("cannot connect: {e}")),
            RunError::TimedOut => unavailable("no connection within the timeout".into()),
        })
    }
}

diesel::define_sql_function! {
    /// MySQL's named advisory lock: 1 when taken within `timeout` seconds.
    #[sql_name = "GET_LOCK"]
    fn get_lock(name: Text, timeout: diesel::sql_types::Integer) -> Nullable<Integer>;
}

super::queries::diesel_records!(MysqlRecords, super::Conn, diesel::mysql::Mysql, {
    fn backend(&self) -> Option<&'static str> {
        Some("mysql")
    }

    async fn check(&self) -> Result<()> {
        self.ping().await
    }
});

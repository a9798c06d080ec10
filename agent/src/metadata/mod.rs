//! The metadata store: one SQLite database in WAL mode (`<data-root>/strata.db`).
//!
//! Every change of engine state is one transaction, so a `kill -9` at any instant leaves either
//! the old or the new state. Layers on disk that the database does not name are orphans from a
//! crash and are removed at start (see `layers::repair`).

mod schema;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, Transaction};

use crate::error::{EngineError, Result};

/// The database handle. Connections are not `Sync`; one connection behind a mutex is plenty for
/// the short transactions the engine makes.
pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Db> {
        let mut conn = Connection::open(path)
            .map_err(|e| EngineError::metadata(format!("opening {}", path.display()), e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| EngineError::metadata("enabling WAL", e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| EngineError::metadata("setting synchronous=FULL", e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| EngineError::metadata("enabling foreign keys", e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| EngineError::metadata("setting busy timeout", e))?;
        schema::migrate(&mut conn)?;
        Ok(Db { conn: Mutex::new(conn) })
    }

    /// Run `f` in one transaction; it commits when `f` returns `Ok`, rolls back otherwise.
    pub fn write<T>(&self, what: &str, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| EngineError::Internal("metadata store lock poisoned".into()))?;
        let tx = conn
            .transaction()
            .map_err(|e| EngineError::metadata(format!("{what}: begin"), e))?;
        let value = f(&tx)?;
        tx.commit().map_err(|e| EngineError::metadata(format!("{what}: commit"), e))?;
        Ok(value)
    }

    /// Run read-only queries.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| EngineError::Internal("metadata store lock poisoned".into()))?;
        f(&conn)
    }
}

//! The metadata store: one SQLite database in WAL mode (`<data-root>/strata.db`).
//!
//! Every change of engine state is one transaction, so a `kill -9` at any instant leaves either
//! the old or the new state. Layers on disk that the database does not name are orphans from a
//! crash and are removed at start (see `layers::repair`).

mod schema;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, Transaction};
use strata_drivers::fsutil::private;

use crate::error::{EngineError, Result};

/// The database handle. Connections are not `Sync`; one connection behind a mutex is plenty for
/// the short transactions the engine makes.
pub struct Db {
    conn: Mutex<Connection>,
}

/// Create the database file 0600 if it is missing (SQLite then makes the WAL and SHM files
/// with the database's mode) and fix the modes an older version left on all three.
fn close_to_others(path: &Path) -> Result<()> {
    let io_err = |p: &Path| {
        let what = format!("restricting {} to its owner", p.display());
        move |e| EngineError::io(what, e)
    };
    private::private_file_options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err(path))?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        private::restrict_if_present(file, private::PRIVATE_FILE_MODE).map_err(io_err(file))?;
    }
    Ok(())
}

impl Db {
    /// Open (creating if needed) the database at `path` and bring its schema up to date. The
    /// database, its WAL and its shared-memory file are 0600: they hold every container's
    /// environment.
    pub fn open(path: &Path) -> Result<Db> {
        close_to_others(path)?;
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

//! The shim's own diagnostics: timestamped lines appended to `<state_dir>/shim.log` (its
//! stdio is /dev/null and the agent's tracing subscriber is not in this process).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

static LOG: OnceLock<Mutex<File>> = OnceLock::new();

/// Start appending diagnostics to `path`. Without it, diagnostics are dropped.
pub(crate) fn init(path: &Path) {
    if let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = LOG.set(Mutex::new(file));
    }
}

/// Append one line.
pub(crate) fn log(message: std::fmt::Arguments<'_>) {
    let Some(lock) = LOG.get() else { return };
    let Ok(mut file) = lock.lock() else { return };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let _ = writeln!(file, "{now} shim[{}]: {message}", std::process::id());
}

/// `diag!("...", args)`: a line in the shim's log.
macro_rules! diag {
    ($($arg:tt)*) => { $crate::runtime::shim::diag::log(format_args!($($arg)*)) };
}
pub(crate) use diag;

//! Timestamps as Docker shows them: RFC 3339 with nanoseconds, and Docker's zero time.

use chrono::{DateTime, SecondsFormat, Utc};

/// What Docker shows for "never" (`StartedAt` of a container that never ran).
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Now, RFC 3339 with nanoseconds, UTC.
pub(crate) fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Parse an RFC 3339 timestamp; `None` for the zero time or garbage.
pub(crate) fn parse(ts: &str) -> Option<DateTime<Utc>> {
    if ts.is_empty() || ts == ZERO_TIME {
        return None;
    }
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Unix seconds of an RFC 3339 timestamp (0 when unknown).
pub(crate) fn unix_seconds(ts: &str) -> i64 {
    parse(ts).map(|t| t.timestamp()).unwrap_or(0)
}

//! The id a driver files a layer under: opaque to the driver, chosen by its caller.

use std::fmt;

use crate::error::DriverError;

/// A validated layer id: 1 to 128 characters of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.
/// Ids become path components (and zfs dataset names), so nothing else is allowed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LayerId(String);

impl LayerId {
    pub fn new(id: impl Into<String>) -> Result<Self, DriverError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= 128
            && !id.starts_with('.')
            && !id.starts_with('-')
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
        if valid {
            Ok(LayerId(id))
        } else {
            Err(DriverError::InvalidId(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for LayerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

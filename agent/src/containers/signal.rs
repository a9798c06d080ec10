//! Signal names as Docker accepts them: `SIGTERM`, `TERM`, `term`, `15`.

use std::str::FromStr;

use nix::sys::signal::Signal;

use crate::error::{EngineError, Result};

/// The signal number for `raw`.
pub(crate) fn parse(raw: &str) -> Result<i32> {
    let trimmed = raw.trim();
    if let Ok(number) = trimmed.parse::<i32>() {
        return Signal::try_from(number)
            .map(|s| s as i32)
            .map_err(|_| EngineError::InvalidArgument(format!("Invalid signal: {raw}")));
    }
    let upper = trimmed.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name)
        .map(|s| s as i32)
        .map_err(|_| EngineError::InvalidArgument(format!("Invalid signal: {raw}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_signal_forms() {
        assert_eq!(parse("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse("term").unwrap(), libc::SIGTERM);
        assert_eq!(parse("9").unwrap(), libc::SIGKILL);
        assert!(parse("SIGNOPE").is_err());
    }
}

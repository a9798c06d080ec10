//! `--security-opt` (`HostConfig.SecurityOpt`): the values Strata acts on. `seccomp=unconfined`
//! (also the old `seccomp:unconfined`) turns the default seccomp profile off; `label=disable`
//! is accepted and changes nothing (no SELinux here). Anything else, custom seccomp profiles
//! included, is refused at create with a 400 naming the value.

use crate::error::{EngineError, Result};

/// What a container's `--security-opt` values ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SecurityOpts {
    /// Apply the default seccomp profile.
    pub seccomp: bool,
}

/// Parse `opts`.
pub(crate) fn parse(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts { seccomp: true };
    for opt in opts {
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("seccomp", "unconfined") => out.seccomp = false,
            ("seccomp", _) => {
                return Err(EngineError::InvalidArgument(
                    "invalid --security-opt seccomp: only the built-in profile and \
                     seccomp=unconfined are supported"
                        .into(),
                ))
            }
            ("label", "disable") => {}
            _ => {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid --security-opt {opt:?}: supported are seccomp=unconfined and \
                     label=disable"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(values: &[&str]) -> Result<SecurityOpts> {
        parse(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn seccomp_unconfined_turns_the_profile_off() {
        assert!(opts(&[]).unwrap().seccomp);
        assert!(!opts(&["seccomp=unconfined"]).unwrap().seccomp);
        assert!(!opts(&["seccomp:unconfined"]).unwrap().seccomp);
        assert!(opts(&["label=disable"]).unwrap().seccomp);
    }

    #[test]
    fn other_values_are_refused() {
        assert!(opts(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]).is_err());
        assert!(opts(&["apparmor=unconfined"]).is_err());
        assert!(opts(&["bogus"]).is_err());
    }
}

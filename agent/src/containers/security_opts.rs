//! `--security-opt` (`HostConfig.SecurityOpt`): the values Strata acts on.
//! - `seccomp=unconfined` (also the old `seccomp:unconfined`) turns the default seccomp profile
//!   off; custom profiles are refused.
//! - `no-new-privileges` (alone, or `=`/`:` with a boolean as Go's `ParseBool` reads it) sets the
//!   OCI `process.noNewPrivileges` of the container and of its execs.
//! - `label=...` is accepted and changes nothing (no SELinux here).
//! - `apparmor=PROFILE` is kept as given ([`SecurityOpts::apparmor`]); create refuses it on a
//!   host with AppArmor enabled and otherwise ignores it, as dockerd 20.10 does without AppArmor.
//!
//! Anything else is refused at create with a 400 naming the value.

use crate::containers::validate::ValidationError;
use crate::error::{EngineError, Result};

/// What a container's `--security-opt` values ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SecurityOpts {
    /// Apply the default seccomp profile.
    pub seccomp: bool,
    /// Set `no_new_privs` on the container's processes.
    pub no_new_privileges: bool,
    /// The AppArmor profile asked for, if any.
    pub apparmor: Option<String>,
}

/// Go's `strconv.ParseBool`, which dockerd uses for `no-new-privileges=VALUE`.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parse `opts`.
pub(crate) fn parse(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts {
        seccomp: true,
        no_new_privileges: false,
        apparmor: None,
    };
    for opt in opts {
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("no-new-privileges", "") => out.no_new_privileges = true,
            ("no-new-privileges", v) => {
                out.no_new_privileges =
                    go_bool(v).ok_or_else(|| ValidationError::SecurityOptValue(opt.clone()))?
            }
            ("seccomp", "unconfined") => out.seccomp = false,
            ("seccomp", _) => {
                return Err(EngineError::InvalidArgument(
                    "invalid --security-opt seccomp: only the built-in profile and \
                     seccomp=unconfined are supported"
                        .into(),
                ))
            }
            ("apparmor", profile) => out.apparmor = Some(profile.to_string()),
            ("label", _) => {}
            _ => {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid --security-opt {opt:?}: supported are seccomp=unconfined, \
                     no-new-privileges[=true|false], label=... and apparmor=..."
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
    fn no_new_privileges_in_dockers_spellings() {
        assert!(!opts(&[]).unwrap().no_new_privileges);
        for on in [
            "no-new-privileges",
            "no-new-privileges:true",
            "no-new-privileges=true",
            "no-new-privileges=1",
        ] {
            assert!(opts(&[on]).unwrap().no_new_privileges, "{on}");
        }
        for off in ["no-new-privileges:false", "no-new-privileges=false"] {
            assert!(!opts(&[off]).unwrap().no_new_privileges, "{off}");
        }
        assert_eq!(
            opts(&["no-new-privileges:bogus"]).unwrap_err().to_string(),
            "invalid --security-opt 2: \"no-new-privileges:bogus\""
        );
    }

    #[test]
    fn apparmor_is_kept_and_other_values_are_refused() {
        assert_eq!(
            opts(&["apparmor=unconfined"]).unwrap().apparmor.as_deref(),
            Some("unconfined")
        );
        assert!(opts(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]).is_err());
        assert!(opts(&["bogus"]).is_err());
        assert!(opts(&["bogus=1"]).is_err());
    }
}

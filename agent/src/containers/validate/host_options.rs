//! `HostConfig` options other than resources: `--shm-size`, `--oom-score-adj`, `--ulimit`,
//! `--log-driver`/`--log-opt` and the restart policy, with dockerd's messages.

use crate::containers::validate::error::ValidationError;
use crate::model::{HostSpec, LogConfig, RestartPolicy, Ulimit};

/// Resource names `--ulimit` knows (go-units' table).
const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Log drivers dockerd has built in; Strata writes json-file only.
const DOCKER_LOG_DRIVERS: &[&str] = &[
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "etwlogs",
    "gcplogs",
    "logentries",
];

/// The options dockerd's json-file driver takes (Strata keeps its own fixed rotation).
const JSON_FILE_OPTS: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Check every option of `host` other than its resources, mounts and security options.
pub(crate) fn check(host: &HostSpec) -> Result<(), ValidationError> {
    if host.shm_size < 0 {
        return Err(ValidationError::ShmSizeNegative);
    }
    if !(-1000..=1000).contains(&host.oom_score_adj) {
        return Err(ValidationError::OomScoreAdjRange(host.oom_score_adj));
    }
    host.ulimits.iter().try_for_each(ulimit)?;
    log_config(&host.log_config)?;
    restart_policy(&host.restart_policy, host.auto_remove)
}

/// -1 is the kernel's "unlimited" (RLIM_INFINITY), as with Docker's `--ulimit memlock=-1`.
fn ulimit(u: &Ulimit) -> Result<(), ValidationError> {
    if !ULIMIT_NAMES.contains(&u.name.as_str()) {
        return Err(ValidationError::UlimitName(u.name.clone()));
    }
    if let Some(value) = [u.soft, u.hard].into_iter().find(|v| *v < -1) {
        return Err(ValidationError::UlimitNegative {
            name: u.name.clone(),
            value,
        });
    }
    // Compare as the kernel does: -1 is the largest value.
    if (u.soft as u64) > (u.hard as u64) {
        return Err(ValidationError::UlimitSoftAboveHard {
            soft: u.soft,
            hard: u.hard,
        });
    }
    Ok(())
}

fn log_config(log: &LogConfig) -> Result<(), ValidationError> {
    match log.driver.as_str() {
        // `none` and `local` are common in compose files and scripts: accepted, and the
        // container logs to json-file all the same (Strata has no other log writer yet).
        "" | "json-file" | "none" | "local" => match log
            .options
            .keys()
            .find(|k| !JSON_FILE_OPTS.contains(&k.as_str()))
        {
            Some(unknown) => Err(ValidationError::UnknownLogOpt(unknown.clone())),
            None => Ok(()),
        },
        known if DOCKER_LOG_DRIVERS.contains(&known) => {
            Err(ValidationError::UnsupportedLogDriver(known.to_string()))
        }
        unknown => Err(ValidationError::UnknownLogDriver(unknown.to_string())),
    }
}

fn restart_policy(policy: &RestartPolicy, auto_remove: bool) -> Result<(), ValidationError> {
    let name = policy.name.as_str();
    if !matches!(name, "" | "no" | "always" | "unless-stopped" | "on-failure") {
        return Err(ValidationError::RestartPolicy(policy.name.clone()));
    }
    if policy.maximum_retry_count < 0 {
        return Err(ValidationError::NegativeRetryCount);
    }
    if auto_remove && !matches!(name, "" | "no") {
        return Err(ValidationError::AutoRemoveWithRestart);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(host: HostSpec) -> String {
        check(&host).unwrap_err().to_string()
    }

    fn limit(name: &str, soft: i64, hard: i64) -> HostSpec {
        HostSpec {
            ulimits: vec![Ulimit {
                name: name.into(),
                soft,
                hard,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn dockers_messages() {
        assert!(check(&HostSpec::default()).is_ok());
        assert_eq!(
            refused(HostSpec {
                shm_size: -1,
                ..Default::default()
            }),
            "SHM size can not be less than 0"
        );
        assert_eq!(
            refused(HostSpec {
                oom_score_adj: 1001,
                ..Default::default()
            }),
            "Invalid value 1001, range for oom score adj is [-1000, 1000]"
        );
        assert_eq!(refused(limit("bogus", 1, 1)), "invalid ulimit type: bogus");
        assert_eq!(
            refused(limit("nofile", 20, 10)),
            "ulimit soft limit must be less than or equal to hard limit: 20 > 10"
        );
        assert!(refused(limit("nofile", -5, 10)).contains("-5 is negative"));
        assert!(check(&limit("memlock", -1, -1)).is_ok());
        assert!(check(&limit("nofile", 1024, -1)).is_ok());
        let log = |driver: &str, opt: Option<&str>| HostSpec {
            log_config: LogConfig {
                driver: driver.into(),
                options: opt
                    .map(|o| [(o.to_string(), "1".to_string())].into())
                    .unwrap_or_default(),
            },
            ..Default::default()
        };
        assert!(check(&log("json-file", Some("max-size"))).is_ok());
        assert!(check(&log("none", None)).is_ok(), "compose files use it");
        assert!(check(&log("local", Some("max-size"))).is_ok());
        assert_eq!(
            refused(log("bogus", None)),
            "error looking up logging plugin bogus: plugin \"bogus\" not found"
        );
        assert!(refused(log("syslog", None)).contains("json-file logs only"));
        assert_eq!(
            refused(log("", Some("bogus"))),
            "unknown log opt 'bogus' for json-file log driver"
        );
        let restart = |name: &str, max: i64, auto_remove: bool| HostSpec {
            restart_policy: RestartPolicy {
                name: name.into(),
                maximum_retry_count: max,
            },
            auto_remove,
            ..Default::default()
        };
        assert_eq!(
            refused(restart("on-failure", -1, false)),
            "maximum retry count cannot be negative"
        );
        assert_eq!(
            refused(restart("bogus", 0, false)),
            "invalid restart policy 'bogus'"
        );
        assert_eq!(
            refused(restart("always", 0, true)),
            "can't create 'AutoRemove' container with restart policy"
        );
    }
}

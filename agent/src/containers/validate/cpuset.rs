//! `--cpuset-cpus`: the list format (`0-2,4`) and whether this host has those CPUs, with
//! dockerd's messages.

use std::collections::BTreeSet;

use crate::containers::validate::error::ValidationError;

/// The CPUs containers may use: the root cpuset (v1, then v2), else the online CPUs.
pub(crate) fn host_cpus() -> String {
    [
        "/sys/fs/cgroup/cpuset/cpuset.cpus",
        "/sys/fs/cgroup/cpuset.cpus.effective",
        "/sys/devices/system/cpu/online",
    ]
    .iter()
    .find_map(|p| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    })
    .unwrap_or_else(|| "0".to_string())
}

/// Parse a cpuset list (`0-2,4`); `None` when malformed (as moby's `ParseUintList`).
fn parse(list: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    if list.is_empty() {
        return Some(out);
    }
    for part in list.split(',') {
        match part.split_once('-') {
            Some((low, high)) => {
                let (low, high): (u32, u32) = (low.parse().ok()?, high.parse().ok()?);
                if low > high {
                    return None;
                }
                out.extend(low..=high);
            }
            None => {
                out.insert(part.parse().ok()?);
            }
        }
    }
    Some(out)
}

/// Refuse a malformed `requested` list, or one naming CPUs outside `available`.
pub(crate) fn check(requested: &str, available: &str) -> Result<(), ValidationError> {
    let wanted = parse(requested).ok_or_else(|| ValidationError::CpusetFormat {
        value: requested.to_string(),
    })?;
    let have = parse(available).unwrap_or_default();
    if !wanted.is_subset(&have) {
        return Err(ValidationError::CpusetUnavailable {
            requested: requested.to_string(),
            available: available.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_parsed_and_checked_against_the_host() {
        assert!(check("", "0-1").is_ok());
        assert!(check("0", "0-1").is_ok());
        assert!(check("0-1", "0-1").is_ok());
        assert!(check("1,0", "0-1").is_ok());
        assert_eq!(
            check("abc", "0-1").unwrap_err().to_string(),
            "Invalid value abc for cpuset cpus: invalid format: abc"
        );
        for bad in ["1-0", "0-", ",", "0,,1", "-1"] {
            assert!(
                matches!(check(bad, "0-1"), Err(ValidationError::CpusetFormat { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            check("0-7", "0-1").unwrap_err().to_string(),
            "Requested CPUs are not available - requested 0-7, available: 0-1"
        );
    }
}

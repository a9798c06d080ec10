//! The capability set of a container: Docker's defaults adjusted by `--cap-add`, `--cap-drop`
//! and `--privileged`, with Docker's rules for `ALL`.

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, LinuxCapabilitiesBuilder};

use super::defaults::{ALL_CAPABILITIES, DEFAULT_CAPABILITIES};
use crate::runtime::RuntimeError;

/// Capability names after Docker's rules, without the `CAP_` prefix, in a stable order.
pub(crate) fn effective_capability_names(
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
) -> Result<Vec<String>, RuntimeError> {
    if privileged {
        return Ok(ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect());
    }
    let add = normalize(cap_add)?;
    let drop = normalize(cap_drop)?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        ALL_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    } else if drop.iter().any(|c| c == "ALL") {
        add
    } else {
        let mut kept: Vec<String> = DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect();
        kept.extend(add);
        kept
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

/// The OCI capabilities object: bounding, effective and permitted hold the set (Docker leaves
/// inheritable and ambient empty).
pub(crate) fn linux_capabilities(names: &[String]) -> Result<LinuxCapabilities, RuntimeError> {
    let mut set = Capabilities::new();
    for name in names {
        set.insert(parse_capability(name)?);
    }
    // The builder starts from oci-spec's defaults (which fill every set): set each one.
    let mut caps = LinuxCapabilitiesBuilder::default()
        .build()
        .map_err(|e| RuntimeError::Bundle(format!("capabilities: {e}")))?;
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    Ok(caps)
}

/// Upper-case, strip `CAP_`, and check that each name is a capability (or `ALL`).
fn normalize(names: &[String]) -> Result<Vec<String>, RuntimeError> {
    names
        .iter()
        .map(|raw| {
            let upper = raw.trim().to_ascii_uppercase();
            let bare = upper.strip_prefix("CAP_").unwrap_or(&upper).to_string();
            if bare == "ALL" || ALL_CAPABILITIES.contains(&bare.as_str()) {
                Ok(bare)
            } else {
                Err(RuntimeError::InvalidSpec(format!(
                    "unknown capability: {raw:?}"
                )))
            }
        })
        .collect()
}

fn parse_capability(name: &str) -> Result<Capability, RuntimeError> {
    serde_json::from_value(serde_json::Value::String(format!("CAP_{name}")))
        .map_err(|e| RuntimeError::Bundle(format!("capability {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(privileged: bool, add: &[&str], drop: &[&str]) -> Vec<String> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        let drop: Vec<String> = drop.iter().map(|s| s.to_string()).collect();
        effective_capability_names(privileged, &add, &drop).unwrap()
    }

    #[test]
    fn default_set_is_dockers() {
        assert_eq!(names(false, &[], &[]).len(), 14);
    }

    #[test]
    fn add_and_drop_accept_either_spelling() {
        let caps = names(false, &["cap_sys_admin"], &["NET_RAW", "CAP_MKNOD"]);
        assert!(caps.contains(&"SYS_ADMIN".to_string()));
        assert!(!caps.contains(&"NET_RAW".to_string()));
        assert!(!caps.contains(&"MKNOD".to_string()));
    }

    #[test]
    fn all_rules() {
        assert_eq!(names(false, &[], &["ALL"]), Vec::<String>::new());
        assert_eq!(
            names(false, &["CHOWN"], &["all"]),
            vec!["CHOWN".to_string()]
        );
        let caps = names(false, &["ALL"], &["SYS_ADMIN"]);
        assert_eq!(caps.len(), ALL_CAPABILITIES.len() - 1);
        assert_eq!(names(true, &[], &["ALL"]).len(), ALL_CAPABILITIES.len());
    }

    #[test]
    fn unknown_capability_is_refused() {
        let err = effective_capability_names(false, &["NOPE".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("unknown capability"), "{err}");
    }

    #[test]
    fn every_known_name_parses() {
        let all: Vec<String> = ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            linux_capabilities(&all)
                .unwrap()
                .bounding()
                .as_ref()
                .unwrap()
                .len(),
            all.len()
        );
    }
}

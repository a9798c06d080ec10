//! Every check of a create request, in one place: [`create_request`] runs before anything is
//! made (name, layers, volumes), and each refusal is a 400 with dockerd's message where dockerd
//! has one.

mod cpuset;
mod error;
mod host_options;
mod resources;

pub use error::ValidationError;
pub(crate) use resources::HostResources;

use crate::containers::{mounts, security_opts, Shared};
use crate::error::Result;
use crate::model::ContainerSpec;
use crate::network::ports;

/// What this host offers that the checks depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostFacts {
    pub resources: HostResources,
    /// AppArmor is enabled in the kernel (`/sys/module/apparmor/parameters/enabled`).
    pub apparmor: bool,
}

impl HostFacts {
    pub(crate) fn detect() -> Self {
        HostFacts {
            resources: HostResources::detect(),
            apparmor: std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .is_ok_and(|v| v.trim() == "Y"),
        }
    }
}

/// Check `spec` against Docker's rules and this host, dropping limits the host cannot enforce;
/// returns Docker's warnings for what was dropped.
pub(crate) fn create_request(
    shared: &Shared,
    spec: &mut ContainerSpec,
    host: &HostFacts,
) -> Result<Vec<String>> {
    let warnings = host_spec(spec, host)?;
    crate::network::container_start::check_create(&shared.network, &spec.host)?;
    Ok(warnings)
}

/// The checks that need no engine state.
fn host_spec(spec: &mut ContainerSpec, host: &HostFacts) -> Result<Vec<String>> {
    mounts::validate(&spec.host)?;
    let security = security_opts::parse(&spec.host.security_opt)?;
    // dockerd 20.10 keeps an AppArmor profile only where AppArmor is enabled and otherwise
    // accepts and ignores it (checked: `apparmor=anything` creates and runs there). Strata does
    // the same without AppArmor, and refuses it where AppArmor is enabled, since it loads no
    // profiles.
    if let (Some(profile), true) = (&security.apparmor, host.apparmor) {
        return Err(ValidationError::AppArmorUnsupported(format!("apparmor={profile}")).into());
    }
    host_options::check(&spec.host)?;
    ports::requests(
        &spec.host.port_bindings,
        spec.host.publish_all_ports,
        &spec.exposed_ports,
    )?;
    Ok(resources::check(&mut spec.host.resources, &host.resources)?)
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortBinding;

    fn facts(apparmor: bool) -> HostFacts {
        HostFacts {
            resources: HostResources {
                cgroups: resources::CgroupSupport {
                    blkio_weight: true,
                    swap_limit: true,
                },
                ncpu: 2,
                cpuset: "0-1".into(),
            },
            apparmor,
        }
    }

    #[test]
    fn apparmor_is_ignored_without_apparmor_and_refused_with_it() {
        let mut spec = ContainerSpec::default();
        spec.host.security_opt = vec!["apparmor=docker-default".into()];
        assert!(host_spec(&mut spec, &facts(false)).is_ok());
        assert!(host_spec(&mut spec, &facts(true)).is_err());
    }

    #[test]
    fn a_host_port_out_of_range_is_refused() {
        let mut spec = ContainerSpec::default();
        spec.host.port_bindings.insert(
            "80/tcp".into(),
            vec![PortBinding {
                host_ip: String::new(),
                host_port: "99999".into(),
            }],
        );
        assert_eq!(
            host_spec(&mut spec, &facts(false)).unwrap_err().to_string(),
            "invalid port specification: \"99999\""
        );
    }
}

//! `docker start`: mount the rw layer, write the bundle, launch the shim (which creates the
//! container), connect to it, hand its streams to the hub, start the monitor, tell the runtime
//! to start the process, then record the container running. Nothing is lost between create and
//! start because the agent connects before the process runs. An agent killed before the record
//! leaves a shim the next start adopts (the process runs) or kills (it was never started):
//! `repair_run::reconcile`.

use std::sync::Arc;

use strata_drivers::fsutil::private::private_dir;
use tracing::{info, warn};

use crate::containers::exit::{self, RunEnd};
use crate::containers::live::{is_active, Container};
use crate::containers::paths::{self, remove_dir_if_present};
use crate::containers::{merge, monitor, time, volume_mounts, Shared};
use crate::error::{EngineError, Result};
use crate::model::ContainerStatus;
use crate::runtime::bundle::{self, BundleSpec};
use crate::runtime::shim_client::{self, ShimConfig};

/// Docker's exit code for a start failure: 127 when the command is missing, 126 when it cannot
/// be executed, 128 otherwise.
pub(crate) fn start_failure_code(message: &str) -> i64 {
    let m = message.to_ascii_lowercase();
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        128
    }
}

/// Start container `c`.
pub(crate) async fn start(shared: &Arc<Shared>, c: &Arc<Container>) -> Result<()> {
    start_from(shared, c, false).await
}

/// The restart policy's start at the end of its delay: only from `restarting` (a `docker stop`
/// meanwhile left it `exited`: `NotModified`, nothing started).
pub(crate) async fn start_restarting(shared: &Arc<Shared>, c: &Arc<Container>) -> Result<()> {
    start_from(shared, c, true).await
}

async fn start_from(shared: &Arc<Shared>, c: &Arc<Container>, restarting: bool) -> Result<()> {
    let _guard = c.lifecycle.lock().await;
    {
        let mut live = c.live();
        if live.removed {
            return Err(EngineError::NoSuchContainer(c.id.clone()));
        }
        let status = live.record.state.status;
        if restarting && status == ContainerStatus::Restarting {
            live.restart.pending = None;
        } else if restarting || is_active(status) {
            return Err(EngineError::NotModified {
                id: c.id.clone(),
                state: live.record.state.status.as_str().to_string(),
            });
        }
    }
    c.begin_run();
    let mut mounted = false;
    let container_pid = match launch_and_connect(shared, c, &mut mounted).await {
        Ok(pid) => pid,
        Err(e) => {
            // Nothing watches this run: end it here.
            let message = e.to_string();
            warn!(id = %c.id, error = %message, "container failed to start");
            let exit_code = start_failure_code(&message);
            let end = RunEnd {
                exit_code,
                oom_killed: false,
                finished_at: time::now_rfc3339(),
                error: message.clone(),
                rw_mounted: mounted,
            };
            exit::finish_run(shared, c, end).await;
            // A command that is missing or not executable is the caller's mistake: Docker
            // answers 400 with the runtime's message.
            if matches!(exit_code, 126 | 127) {
                return Err(EngineError::InvalidArgument(message));
            }
            return Err(e);
        }
    };
    // The monitor owns the run now: a failure from here on is recorded by it, with the exit.
    if let Err(e) = shared.runtime.start(&c.id).await {
        let message = e.to_string();
        warn!(id = %c.id, error = %message, "runtime refused to start the created container");
        c.live().start_error = Some(message);
        if let Err(kill) = shared.runtime.delete(&c.id, true).await {
            warn!(id = %c.id, error = %kill, "removing the container the runtime did not start");
        }
        return Err(e.into());
    }
    crate::faults::fault_point("start-runtime-started");
    let mut state = c.state();
    state.status = ContainerStatus::Running;
    state.pid = i64::from(container_pid);
    state.exit_code = 0;
    state.oom_killed = false;
    state.error = String::new();
    state.started_at = time::now_rfc3339();
    if let Err(e) = shared.persist_state(c, &state).await {
        // A run the store does not know of must not go on: end it (the monitor records the
        // exit, with this error).
        warn!(id = %c.id, error = %e, "recording the start failed; killing the container");
        c.live().start_error = Some(e.to_string());
        if let Err(kill) = shared.runtime.delete(&c.id, true).await {
            warn!(id = %c.id, error = %kill, "killing the container whose start was not recorded");
        }
        return Err(e);
    }
    info!(id = %c.id, "container started");
    Ok(())
}

/// Everything up to a created container whose shim the monitor watches; returns the
/// container's init pid.
async fn launch_and_connect(
    shared: &Arc<Shared>,
    c: &Arc<Container>,
    mounted: &mut bool,
) -> Result<i32> {
    let rec = c.record();
    let driver = shared.driver.clone();
    let rw = rec.rw_layer.clone();
    let rootfs = Shared::blocking("mounting the container's layer", move || {
        Ok(driver.get(&rw)?)
    })
    .await?;
    *mounted = true;

    let (bundle_dir, shim_dir, exec_dir) = (
        c.paths.bundle_dir.clone(),
        c.paths.shim_dir.clone(),
        c.paths.exec_dir.clone(),
    );
    let host = rec.spec.host.clone();
    let config = rec.config.clone();
    let init_binary = shared.config.init_binary.clone();
    let cgroup_parent = shared.config.cgroup_parent();
    let id = c.id.clone();
    let volumes = volume_mounts::store_of(shared);
    // Bridge mode attaches the container here; the end of the run (`exit::finish_run`, also
    // reached when this start fails) detaches it.
    let net = crate::network::container_start::prepare(
        &shared.network,
        &c.id,
        &rec.name,
        &host,
        &config,
        crate::network::container_start::IdentityPaths {
            hosts: &c.paths.hosts_path,
            resolv_conf: &c.paths.resolv_conf_path,
        },
        |name| {
            let other = shared.find(name).ok()?;
            let rec = other.record();
            Some((other.id.clone(), rec.state.status, rec.state.pid))
        },
    )
    .await?;
    Shared::blocking("writing the bundle", move || {
        // A previous run's shim files (exit file, socket) must not be mistaken for this run's.
        remove_dir_if_present(&shim_dir)
            .map_err(|e| EngineError::io(format!("clearing {}", shim_dir.display()), e))?;
        // The bundle holds the container's environment: closed to other users.
        private_dir(&exec_dir)
            .map_err(|e| EngineError::io(format!("creating {}", exec_dir.display()), e))?;
        for dir in [&bundle_dir, &shim_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))?;
        }
        let mut mounts = volume_mounts::bundle_mounts(&volumes, &id, &rootfs, &host)?;
        mounts.extend(net.mounts);
        let security = crate::containers::security_opts::parse(&host.security_opt)?;
        let spec = BundleSpec {
            id: id.clone(),
            rootfs,
            args: merge::command_line(&config),
            env: merge::runtime_env(&config),
            cwd: if config.working_dir.is_empty() {
                "/".to_string()
            } else {
                config.working_dir.clone()
            },
            user: config.user.clone(),
            hostname: config.hostname.clone(),
            domainname: config.domainname.clone(),
            tty: config.tty,
            read_only_rootfs: host.read_only_rootfs,
            init: host.init.then_some(init_binary),
            mounts,
            resources: host.resources.clone(),
            cgroups_path: crate::cgroups::parent::container_path(&cgroup_parent, &id),
            network: net.namespace,
            privileged: host.privileged,
            cap_add: host.cap_add.clone(),
            cap_drop: host.cap_drop.clone(),
            seccomp: security.seccomp,
            no_new_privileges: security.no_new_privileges,
            oom_score_adj: host.oom_score_adj,
            shm_size: host.shm_size,
        };
        bundle::write_bundle(&bundle_dir, &spec)?;
        Ok(())
    })
    .await?;

    // A runtime record left by a run that ended badly would make `create` fail.
    if let Ok(Some(_)) = shared.runtime.state(&c.id).await {
        if let Err(e) = shared.runtime.delete(&c.id, true).await {
            warn!(id = %c.id, error = %e, "removing a stale runtime record");
        }
    }

    let shim_config = ShimConfig {
        id: c.id.clone(),
        bundle_dir: c.paths.bundle_dir.clone(),
        runtime_binary: shared.config.default_runtime.clone(),
        runtime_root: paths::runtime_root(&shared.config),
        state_dir: c.paths.shim_dir.clone(),
        log_path: c.paths.log_path.clone(),
        tty: rec.config.tty,
        stdin: rec.config.open_stdin,
    };
    let handle = shim_client::launch(&shared.config.shim_binary, &shim_config).await?;
    crate::faults::fault_point("start-runtime-created");
    let conn = match shim_client::connect(&c.paths.shim_dir).await {
        Ok(conn) => conn,
        Err(e) => {
            // The shim holds a created container nobody will start: remove it (the shim then
            // sees the exit and goes away).
            if let Err(kill) = shared.runtime.delete(&c.id, true).await {
                warn!(id = %c.id, error = %kill, "removing the created container after a failed connect");
            }
            return Err(e.into());
        }
    };
    c.open_stdin(conn.stdin);
    c.live().resize = Some(conn.resize);
    monitor::spawn(shared.clone(), c.clone(), conn.events);
    Ok(handle.container_pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_docker() {
        assert_eq!(
            start_failure_code("exec: \"x\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            start_failure_code("exec /bin/x: no such file or directory"),
            127
        );
        assert_eq!(start_failure_code("exec /etc: permission denied"), 126);
        assert_eq!(start_failure_code("something else"), 128);
    }
}

//! Container requests and answers: `POST /containers/create` body -> [`model::ContainerSpec`],
//! and inspect / list answers back to Docker's JSON.

use std::collections::HashMap;

use bollard_stubs::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, ContainerState,
    ContainerStateStatusEnum, ContainerSummary, ContainerSummaryHostConfig,
    ContainerSummaryNetworkSettings, ContainerSummaryStateEnum, HostConfig, HostConfigLogConfig,
    MountPoint, PortBinding, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};
use strata_agent::model::{self, ContainerStatus};

use super::images::driver_data;
use super::{to_btree_map, to_hash_map};

/// Docker treats an empty string as "not set" for these fields (the CLI sends `""`).
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// `--entrypoint ""` arrives as `[""]` and means "no entrypoint" (`Some(vec![])`).
fn entrypoint_from_wire(entrypoint: Option<Vec<String>>) -> Option<Vec<String>> {
    match entrypoint {
        Some(list) if list.len() == 1 && list[0].is_empty() => Some(Vec::new()),
        other => other,
    }
}

/// Map a create request onto the engine's spec, field by field. Fields Strata does not act on
/// (healthchecks, networking config, ...) are ignored.
pub fn spec_from_create(body: ContainerCreateBody) -> model::ContainerSpec {
    let mut host = body
        .host_config
        .map(host_spec_from_wire)
        .unwrap_or_default();
    host.endpoints_config = super::network_endpoints::endpoint_requests(body.networking_config);
    model::ContainerSpec {
        image: body.image.unwrap_or_default(),
        cmd: body.cmd,
        entrypoint: entrypoint_from_wire(body.entrypoint),
        env: body.env.unwrap_or_default(),
        working_dir: non_empty(body.working_dir),
        user: non_empty(body.user),
        hostname: non_empty(body.hostname),
        domainname: non_empty(body.domainname),
        tty: body.tty.unwrap_or(false),
        open_stdin: body.open_stdin.unwrap_or(false),
        stdin_once: body.stdin_once.unwrap_or(false),
        attach_stdin: body.attach_stdin.unwrap_or(false),
        attach_stdout: body.attach_stdout.unwrap_or(false),
        attach_stderr: body.attach_stderr.unwrap_or(false),
        labels: to_btree_map(body.labels),
        stop_signal: non_empty(body.stop_signal),
        stop_timeout: body.stop_timeout,
        host,
        volumes: body.volumes.unwrap_or_default(),
        exposed_ports: body.exposed_ports.unwrap_or_default(),
    }
}

/// `HostConfig` -> [`model::HostSpec`].
pub fn host_spec_from_wire(h: HostConfig) -> model::HostSpec {
    let restart_policy = h
        .restart_policy
        .map(|p| model::RestartPolicy {
            name: p.name.map(|n| n.to_string()).unwrap_or_default(),
            maximum_retry_count: p.maximum_retry_count.unwrap_or(0),
        })
        .unwrap_or_default();
    let port_bindings = h
        .port_bindings
        .unwrap_or_default()
        .into_iter()
        .map(|(port, bindings)| {
            let bindings = bindings
                .unwrap_or_default()
                .into_iter()
                .map(|b| model::PortBinding {
                    host_ip: b.host_ip.unwrap_or_default(),
                    host_port: b.host_port.unwrap_or_default(),
                })
                .collect();
            (port, bindings)
        })
        .collect();
    model::HostSpec {
        auto_remove: h.auto_remove.unwrap_or(false),
        binds: h.binds.unwrap_or_default(),
        init: h.init.unwrap_or(false),
        network_mode: h.network_mode.unwrap_or_default(),
        read_only_rootfs: h.readonly_rootfs.unwrap_or(false),
        privileged: h.privileged.unwrap_or(false),
        cap_add: h.cap_add.unwrap_or_default(),
        cap_drop: h.cap_drop.unwrap_or_default(),
        tmpfs: to_btree_map(h.tmpfs),
        storage_opt: to_btree_map(h.storage_opt),
        resources: model::Resources {
            memory: h.memory.unwrap_or(0),
            memory_swap: h.memory_swap.unwrap_or(0),
            nano_cpus: h.nano_cpus.unwrap_or(0),
            cpu_shares: h.cpu_shares.unwrap_or(0),
            cpuset_cpus: h.cpuset_cpus.unwrap_or_default(),
            pids_limit: h.pids_limit.unwrap_or(0),
            blkio_weight: h.blkio_weight.unwrap_or(0),
            cpu_quota: h.cpu_quota.unwrap_or(0),
            cpu_period: h.cpu_period.unwrap_or(0),
        },
        restart_policy,
        port_bindings,
        publish_all_ports: h.publish_all_ports.unwrap_or(false),
        dns: h.dns.unwrap_or_default(),
        extra_hosts: h.extra_hosts.unwrap_or_default(),
        mounts: h
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(super::mounts::mount_request)
            .collect(),
        endpoints_config: Default::default(),
        security_opt: h.security_opt.unwrap_or_default(),
        shm_size: h.shm_size.unwrap_or(0),
        oom_score_adj: h.oom_score_adj.unwrap_or(0),
        ulimits: h
            .ulimits
            .unwrap_or_default()
            .into_iter()
            .map(|u| model::Ulimit {
                name: u.name.unwrap_or_default(),
                soft: u.soft.unwrap_or(0),
                hard: u.hard.unwrap_or(0),
            })
            .collect(),
        log_config: h
            .log_config
            .map(|l| model::LogConfig {
                driver: l.typ.unwrap_or_default(),
                options: to_btree_map(l.config),
            })
            .unwrap_or_default(),
    }
}

fn restart_policy_name(name: &str) -> RestartPolicyNameEnum {
    match name {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        "" => RestartPolicyNameEnum::EMPTY,
        _ => RestartPolicyNameEnum::NO,
    }
}

/// [`model::HostSpec`] -> `HostConfig`, as `docker inspect` shows it.
pub fn host_config(h: &model::HostSpec) -> HostConfig {
    let port_bindings = h
        .port_bindings
        .iter()
        .map(|(port, bindings)| {
            let list = bindings
                .iter()
                .map(|b| PortBinding {
                    host_ip: Some(b.host_ip.clone()),
                    host_port: Some(b.host_port.clone()),
                })
                .collect();
            (port.clone(), Some(list))
        })
        .collect();
    HostConfig {
        auto_remove: Some(h.auto_remove),
        binds: (!h.binds.is_empty()).then(|| h.binds.clone()),
        init: Some(h.init),
        network_mode: Some(if h.network_mode.is_empty() {
            "default".to_string()
        } else {
            h.network_mode.clone()
        }),
        readonly_rootfs: Some(h.read_only_rootfs),
        privileged: Some(h.privileged),
        cap_add: (!h.cap_add.is_empty()).then(|| h.cap_add.clone()),
        cap_drop: (!h.cap_drop.is_empty()).then(|| h.cap_drop.clone()),
        tmpfs: (!h.tmpfs.is_empty()).then(|| to_hash_map(&h.tmpfs)),
        storage_opt: (!h.storage_opt.is_empty()).then(|| to_hash_map(&h.storage_opt)),
        memory: Some(h.resources.memory),
        memory_swap: Some(h.resources.memory_swap),
        nano_cpus: Some(h.resources.nano_cpus),
        cpu_shares: Some(h.resources.cpu_shares),
        cpuset_cpus: Some(h.resources.cpuset_cpus.clone()),
        pids_limit: (h.resources.pids_limit > 0).then_some(h.resources.pids_limit),
        blkio_weight: Some(h.resources.blkio_weight),
        restart_policy: Some(RestartPolicy {
            name: Some(restart_policy_name(&h.restart_policy.name)),
            maximum_retry_count: Some(h.restart_policy.maximum_retry_count),
        }),
        port_bindings: Some(port_bindings),
        publish_all_ports: Some(h.publish_all_ports),
        dns: Some(h.dns.clone()),
        extra_hosts: (!h.extra_hosts.is_empty()).then(|| h.extra_hosts.clone()),
        security_opt: (!h.security_opt.is_empty()).then(|| h.security_opt.clone()),
        cpu_quota: Some(h.resources.cpu_quota),
        cpu_period: Some(h.resources.cpu_period),
        shm_size: Some(h.shm_size),
        oom_score_adj: Some(h.oom_score_adj),
        ulimits: Some(
            h.ulimits
                .iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect(),
        ),
        log_config: Some(HostConfigLogConfig {
            typ: Some(if h.log_config.driver.is_empty() {
                "json-file".to_string()
            } else {
                h.log_config.driver.clone()
            }),
            config: Some(to_hash_map(&h.log_config.options)),
        }),
        runtime: None,
        ..Default::default()
    }
}

fn state_status(s: ContainerStatus) -> ContainerStateStatusEnum {
    match s {
        ContainerStatus::Created => ContainerStateStatusEnum::CREATED,
        ContainerStatus::Running => ContainerStateStatusEnum::RUNNING,
        ContainerStatus::Paused => ContainerStateStatusEnum::PAUSED,
        ContainerStatus::Restarting => ContainerStateStatusEnum::RESTARTING,
        ContainerStatus::Removing => ContainerStateStatusEnum::REMOVING,
        ContainerStatus::Exited => ContainerStateStatusEnum::EXITED,
        ContainerStatus::Dead => ContainerStateStatusEnum::DEAD,
    }
}

fn summary_state(s: ContainerStatus) -> ContainerSummaryStateEnum {
    match s {
        ContainerStatus::Created => ContainerSummaryStateEnum::CREATED,
        ContainerStatus::Running => ContainerSummaryStateEnum::RUNNING,
        ContainerStatus::Paused => ContainerSummaryStateEnum::PAUSED,
        ContainerStatus::Restarting => ContainerSummaryStateEnum::RESTARTING,
        ContainerStatus::Removing => ContainerSummaryStateEnum::REMOVING,
        ContainerStatus::Exited => ContainerSummaryStateEnum::EXITED,
        ContainerStatus::Dead => ContainerSummaryStateEnum::DEAD,
    }
}

/// `State` of `docker inspect`.
pub fn state(s: &model::ContainerState) -> ContainerState {
    ContainerState {
        status: Some(state_status(s.status)),
        // dockerd counts a restarting container as running (its restart delay is part of the run).
        running: Some(matches!(
            s.status,
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        )),
        paused: Some(s.status == ContainerStatus::Paused),
        restarting: Some(s.status == ContainerStatus::Restarting),
        oom_killed: Some(s.oom_killed),
        dead: Some(s.status == ContainerStatus::Dead),
        pid: Some(s.pid),
        exit_code: Some(s.exit_code),
        error: Some(s.error.clone()),
        started_at: Some(s.started_at.clone()),
        finished_at: Some(s.finished_at.clone()),
        health: None,
    }
}

/// `Config` of `docker inspect`.
pub fn config(c: &model::ResolvedConfig) -> ContainerConfig {
    ContainerConfig {
        hostname: Some(c.hostname.clone()),
        domainname: Some(c.domainname.clone()),
        user: Some(c.user.clone()),
        attach_stdin: Some(c.attach_stdin),
        attach_stdout: Some(c.attach_stdout),
        attach_stderr: Some(c.attach_stderr),
        exposed_ports: (!c.exposed_ports.is_empty()).then(|| c.exposed_ports.clone()),
        tty: Some(c.tty),
        open_stdin: Some(c.open_stdin),
        stdin_once: Some(c.stdin_once),
        env: Some(c.env.clone()),
        cmd: (!c.cmd.is_empty()).then(|| c.cmd.clone()),
        image: Some(c.image.clone()),
        volumes: (!c.volumes.is_empty()).then(|| c.volumes.clone()),
        working_dir: Some(c.working_dir.clone()),
        entrypoint: (!c.entrypoint.is_empty()).then(|| c.entrypoint.clone()),
        labels: Some(to_hash_map(&c.labels)),
        stop_signal: c.stop_signal.clone(),
        stop_timeout: c.stop_timeout,
        ..Default::default()
    }
}

fn mount_point(m: &model::MountPoint) -> MountPoint {
    MountPoint {
        typ: Some(m.kind.clone()),
        name: (!m.name.is_empty()).then(|| m.name.clone()),
        source: Some(m.source.clone()),
        destination: Some(m.destination.clone()),
        driver: (m.kind == "volume").then(|| "local".to_string()),
        mode: Some(m.mode.clone()),
        rw: Some(m.rw),
        propagation: Some(String::new()),
    }
}

/// Docker shows names with a leading `/`.
fn slash_name(name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/{name}")
    }
}

/// `GET /containers/{id}/json`.
pub fn inspect(d: &model::ContainerDetails) -> ContainerInspectResponse {
    ContainerInspectResponse {
        id: Some(d.id.clone()),
        created: Some(d.created.clone()),
        path: Some(d.path.clone()),
        args: Some(d.args.clone()),
        state: Some(state(&d.state)),
        image: Some(d.image_id.clone()),
        resolv_conf_path: Some(d.resolv_conf_path.clone()),
        hostname_path: Some(d.hostname_path.clone()),
        hosts_path: Some(d.hosts_path.clone()),
        log_path: Some(d.log_path.clone()),
        name: Some(slash_name(&d.name)),
        restart_count: Some(d.restart_count),
        driver: Some(d.driver.clone()),
        platform: Some("linux".to_string()),
        mount_label: Some(String::new()),
        process_label: Some(String::new()),
        app_armor_profile: Some(String::new()),
        exec_ids: None,
        host_config: Some(host_config(&d.host)),
        graph_driver: Some(driver_data(&d.graph_driver)),
        mounts: Some(d.mounts.iter().map(mount_point).collect()),
        config: Some(config(&d.config)),
        network_settings: Some(super::network_settings::network_settings(
            &d.network_settings,
        )),
        ..Default::default()
    }
}

/// A line of `GET /containers/json`.
pub fn summary(s: &model::ContainerSummary) -> ContainerSummary {
    ContainerSummary {
        id: Some(s.id.clone()),
        names: Some(s.names.iter().map(|n| slash_name(n)).collect()),
        image: Some(s.image.clone()),
        image_id: Some(s.image_id.clone()),
        command: Some(s.command.clone()),
        created: Some(s.created),
        ports: Some(super::network_settings::port_summaries(&s.ports)),
        labels: Some(to_hash_map(&s.labels)),
        state: Some(summary_state(s.state)),
        status: Some(s.status.clone()),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some("default".to_string()),
            annotations: None,
        }),
        network_settings: Some(ContainerSummaryNetworkSettings {
            networks: Some(HashMap::new()),
        }),
        mounts: Some(s.mounts.iter().map(mount_point).collect()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `docker run --rm busybox sh -c 'echo hi'` sends (docker CLI 28, trimmed).
    const CLI_CREATE_BODY: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,
      "AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,
      "Env":[],"Cmd":["sh","-c","echo hi"],"Image":"busybox","Volumes":{},"WorkingDir":"",
      "Entrypoint":null,"OnBuild":null,"Labels":{},
      "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
      "NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
      "AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,
      "CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,
      "GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"",
      "Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,
      "UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,
      "NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],
      "BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],
      "BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,
      "CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,
      "DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,
      "OomKillDisable":null,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,
      "IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},
      "NetworkingConfig":{"EndpointsConfig":{}}}"#;

    #[test]
    fn cli_create_body_maps_onto_the_spec() {
        let body: ContainerCreateBody = serde_json::from_str(CLI_CREATE_BODY).unwrap();
        let spec = spec_from_create(body);
        assert_eq!(spec.image, "busybox");
        assert_eq!(
            spec.cmd,
            Some(vec!["sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(spec.entrypoint, None);
        assert_eq!(spec.working_dir, None);
        assert_eq!(spec.user, None);
        assert!(spec.attach_stdout && spec.attach_stderr && !spec.attach_stdin);
        assert!(spec.host.auto_remove);
        assert_eq!(spec.host.network_mode, "default");
        assert_eq!(spec.host.restart_policy.name, "no");
    }

    #[test]
    fn empty_entrypoint_resets_and_ports_map() {
        let body: ContainerCreateBody = serde_json::from_str(
            r#"{"Image":"x","Entrypoint":[""],"ExposedPorts":{"80/tcp":{}},
                "HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
                "Binds":["/h:/c"],"Memory":1048576}}"#,
        )
        .unwrap();
        let spec = spec_from_create(body);
        assert_eq!(spec.entrypoint, Some(vec![]));
        assert_eq!(spec.host.binds, vec!["/h:/c".to_string()]);
        assert_eq!(spec.host.resources.memory, 1048576);
        assert_eq!(spec.host.port_bindings["80/tcp"][0].host_port, "8080");
    }

    #[test]
    fn inspect_shows_docker_shapes() {
        let mut details = model::ContainerDetails {
            id: "abc".into(),
            name: "happy_turing".into(),
            ..Default::default()
        };
        details.state.status = ContainerStatus::Exited;
        details.state.exit_code = 3;
        details.graph_driver.name = "overlay2".into();
        details
            .graph_driver
            .data
            .insert("MergedDir".into(), "/x/merged".into());
        let json = serde_json::to_value(inspect(&details)).unwrap();
        assert_eq!(json["Name"], "/happy_turing");
        assert_eq!(json["State"]["Status"], "exited");
        assert_eq!(json["State"]["Running"], false);
        assert_eq!(json["State"]["ExitCode"], 3);
        assert_eq!(json["GraphDriver"]["Name"], "overlay2");
        assert_eq!(json["GraphDriver"]["Data"]["MergedDir"], "/x/merged");
        assert_eq!(json["Platform"], "linux");
        assert_eq!(json["Mounts"], serde_json::json!([]));
    }
}

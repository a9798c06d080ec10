//! `GET /version` and `GET /info`.

use std::collections::HashMap;

use bollard_stubs::models::{
    LocalNodeState, PluginsInfo, RegistryServiceConfig, Runtime, SwarmInfo, SystemInfo,
    SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion,
    SystemVersionComponents, SystemVersionPlatform,
};
use strata_agent::model;

/// The product name shown by `docker version` (`Server: Strata ...`).
pub const PLATFORM_NAME: &str = "Strata";

/// Docker reports architectures by Go's names (`amd64`, `arm64`) in `docker version`.
pub fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i686" | "i386" => "386",
        "s390x" => "s390x",
        "riscv64" | "riscv64gc" => "riscv64",
        other => other,
    }
}

/// `docker version` server part.
pub fn version(v: &model::VersionInfo) -> SystemVersion {
    let arch = go_arch(&v.arch).to_string();
    let details: HashMap<String, String> = [
        ("ApiVersion", v.api_version.as_str()),
        ("MinAPIVersion", v.min_api_version.as_str()),
        ("GitCommit", v.git_commit.as_str()),
        ("Os", v.os.as_str()),
        ("Arch", arch.as_str()),
        ("KernelVersion", v.kernel_version.as_str()),
        ("Experimental", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: PLATFORM_NAME.to_string(),
        }),
        components: Some(vec![SystemVersionComponents {
            name: "Engine".to_string(),
            version: v.version.clone(),
            details: Some(details),
        }]),
        version: Some(v.version.clone()),
        api_version: Some(v.api_version.clone()),
        min_api_version: Some(v.min_api_version.clone()),
        git_commit: Some(v.git_commit.clone()),
        go_version: Some(String::new()),
        os: Some(v.os.clone()),
        arch: Some(arch.clone()),
        kernel_version: Some(v.kernel_version.clone()),
        experimental: Some(false),
        build_time: None,
    }
}

/// `docker info`.
pub fn info(i: &model::SystemInfo) -> SystemInfo {
    let runtimes = i
        .runtimes
        .iter()
        .map(|name| {
            (
                name.clone(),
                Runtime {
                    path: Some(name.clone()),
                    ..Default::default()
                },
            )
        })
        .collect();
    SystemInfo {
        id: Some(i.id.clone()),
        name: Some(i.name.clone()),
        containers: Some(i.containers),
        containers_running: Some(i.containers_running),
        containers_paused: Some(i.containers_paused),
        containers_stopped: Some(i.containers_stopped),
        images: Some(i.images),
        driver: Some(i.driver.clone()),
        driver_status: Some(
            i.driver_status
                .iter()
                .map(|(k, v)| vec![k.clone(), v.clone()])
                .collect(),
        ),
        docker_root_dir: Some(i.data_root.clone()),
        plugins: Some(PluginsInfo {
            volume: Some(vec!["local".to_string()]),
            network: Some(vec!["null".to_string()]),
            authorization: None,
            log: Some(vec!["json-file".to_string()]),
        }),
        memory_limit: Some(true),
        swap_limit: Some(false),
        cpu_cfs_period: Some(true),
        cpu_cfs_quota: Some(true),
        cpu_shares: Some(true),
        cpu_set: Some(true),
        pids_limit: Some(true),
        oom_kill_disable: Some(false),
        ipv4_forwarding: Some(false),
        debug: Some(false),
        logging_driver: Some("json-file".to_string()),
        cgroup_driver: Some(match i.cgroup_driver.as_str() {
            "systemd" => SystemInfoCgroupDriverEnum::SYSTEMD,
            "none" => SystemInfoCgroupDriverEnum::NONE,
            "" => SystemInfoCgroupDriverEnum::EMPTY,
            _ => SystemInfoCgroupDriverEnum::CGROUPFS,
        }),
        cgroup_version: Some(match i.cgroup_version.as_str() {
            "2" => SystemInfoCgroupVersionEnum::_2,
            "1" => SystemInfoCgroupVersionEnum::_1,
            _ => SystemInfoCgroupVersionEnum::EMPTY,
        }),
        kernel_version: Some(i.kernel_version.clone()),
        operating_system: Some(i.operating_system.clone()),
        os_type: Some(i.os_type.clone()),
        architecture: Some(i.architecture.clone()),
        ncpu: Some(i.ncpu),
        mem_total: Some(i.mem_total),
        index_server_address: Some("https://index.docker.io/v1/".to_string()),
        registry_config: Some(RegistryServiceConfig::default()),
        labels: Some(Vec::new()),
        experimental_build: Some(false),
        server_version: Some(i.server_version.clone()),
        runtimes: Some(runtimes),
        default_runtime: Some(i.default_runtime.clone()),
        swarm: Some(SwarmInfo {
            local_node_state: Some(LocalNodeState::INACTIVE),
            control_available: Some(false),
            ..Default::default()
        }),
        live_restore_enabled: Some(true),
        init_binary: Some(i.init_binary.clone()),
        security_options: Some(i.security_options.clone()),
        warnings: Some(Vec::new()),
        ..Default::default()
    }
}

//! The engine's domain types: what callers ask for and what they get back. The HTTP layer maps
//! these to and from Docker's wire JSON; nothing here knows about HTTP.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Images

/// How a driver stores a layer or container, for `docker inspect` `GraphDriver`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GraphDriverData {
    pub name: String,
    pub data: BTreeMap<String, String>,
}

/// The runtime part of an image config (OCI `config` object), as `docker image inspect` shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRuntimeConfig {
    pub user: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `"80/tcp"` style keys.
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
}

/// One row of `docker history`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryEntry {
    /// `sha256:...` for the image itself (top row), `<missing>` for rows below, as Docker does.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: i64,
    pub comment: String,
    pub empty_layer: bool,
}

/// A line of `docker images`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: String,
    pub parent_id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: i64,
    pub labels: BTreeMap<String, String>,
    pub containers: i64,
}

/// Everything `docker image inspect` shows.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageDetails {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    /// RFC 3339.
    pub created: String,
    pub author: String,
    pub architecture: String,
    pub os: String,
    pub size: i64,
    pub config: ImageRuntimeConfig,
    /// `RootFS.Layers`: the diff ids, bottom first.
    pub layers: Vec<String>,
    pub graph_driver: GraphDriverData,
    pub history: Vec<HistoryEntry>,
}

/// One line of the `docker rmi` answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ImageDeleteItem {
    Untagged(String),
    Deleted(String),
}

/// What `docker load` reports, one message per line.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoadReport {
    /// e.g. `Loaded image: busybox:latest` or `Loaded image ID: sha256:...`.
    pub messages: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Containers

/// What `docker create` / `docker run` asks for, in domain terms. Fields left `None` or empty
/// come from the image.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerSpec {
    /// The image reference as the user typed it.
    pub image: String,
    pub cmd: Option<Vec<String>>,
    /// `Some(vec![])` resets the image's entrypoint (`--entrypoint ""`).
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub host: HostSpec,
    /// Container paths asked to be anonymous volumes (`-v /ctr`, Docker's `Config.Volumes`).
    #[serde(default)]
    pub volumes: Vec<String>,
    /// Ports the container config exposes beyond the image's (`--expose`, `Config.ExposedPorts`).
    #[serde(default)]
    pub exposed_ports: Vec<String>,
}

/// The host side of a container (Docker's `HostConfig`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HostSpec {
    pub auto_remove: bool,
    /// `-v HOST:CTR[:ro|rw]` and named volumes `NAME:CTR`.
    pub binds: Vec<String>,
    pub init: bool,
    /// `default`, `bridge`, `none`, `host`, `container:NAME`, or a network name.
    pub network_mode: String,
    pub read_only_rootfs: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub tmpfs: BTreeMap<String, String>,
    pub storage_opt: BTreeMap<String, String>,
    pub resources: Resources,
    pub restart_policy: RestartPolicy,
    /// `"80/tcp"` -> host bindings.
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    pub publish_all_ports: bool,
    pub dns: Vec<String>,
    pub extra_hosts: Vec<String>,
    /// `--mount` requests (Docker's `HostConfig.Mounts`).
    #[serde(default)]
    pub mounts: Vec<MountRequest>,
    /// Per-network endpoint requests of the create call (`NetworkingConfig.EndpointsConfig`:
    /// `--network-alias`, `--ip`), by network name.
    #[serde(default)]
    pub endpoints_config: BTreeMap<String, EndpointRequest>,
    /// `--security-opt` values as given (`seccomp=unconfined`, ...).
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// `--shm-size` in bytes (0: the default 64 MiB).
    #[serde(default)]
    pub shm_size: i64,
    /// `--oom-score-adj`, -1000 to 1000.
    #[serde(default)]
    pub oom_score_adj: i64,
    /// `--ulimit` values.
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// `--log-driver` / `--log-opt`.
    #[serde(default)]
    pub log_config: LogConfig,
}

/// One `--ulimit NAME=SOFT[:HARD]` (Docker's `HostConfig.Ulimits`; -1 is unlimited).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// `HostConfig.LogConfig`: the log driver (empty: the default, json-file) and its options.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogConfig {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

/// What a container asks of its endpoint on one network (`--network-alias`, `--ip`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    /// `--ip`; empty for "any free address".
    pub ipv4_address: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    /// Bytes; 0 = unlimited.
    pub memory: i64,
    /// Bytes of memory plus swap; -1 unlimited, 0 unset.
    pub memory_swap: i64,
    /// Billionths of a CPU (`--cpus 1.5` = 1_500_000_000).
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    /// 0 or negative: unlimited.
    pub pids_limit: i64,
    pub blkio_weight: u16,
    /// `--cpu-quota` in microseconds per period (0: unset, -1: unlimited).
    #[serde(default)]
    pub cpu_quota: i64,
    /// `--cpu-period` in microseconds (0: the kernel's default).
    #[serde(default)]
    pub cpu_period: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestartPolicy {
    /// `""`/`no`, `always`, `on-failure`, `unless-stopped`.
    pub name: String,
    pub maximum_retry_count: i64,
}

/// A freshly created container.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CreatedContainer {
    pub id: String,
    pub warnings: Vec<String>,
}

/// Docker's container states, as `State.Status` spells them.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
        }
    }
}

/// `docker inspect` `State`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContainerState {
    pub status: ContainerStatus,
    pub pid: i64,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub error: String,
    /// RFC 3339 with nanoseconds; Docker's zero time `0001-01-01T00:00:00Z` when never.
    pub started_at: String,
    pub finished_at: String,
}

/// The configuration a container actually runs with: the spec merged with its image's config.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ResolvedConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub working_dir: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    /// The image reference as the user typed it.
    pub image: String,
}

/// Everything `docker inspect CONTAINER` shows.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerDetails {
    pub id: String,
    /// Without the leading `/` (the HTTP layer adds it, as Docker shows it).
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// The executable and its arguments (entrypoint + cmd split as Docker does).
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image_id: String,
    pub config: ResolvedConfig,
    pub host: HostSpec,
    pub graph_driver: GraphDriverData,
    pub log_path: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub restart_count: i64,
    pub driver: String,
    pub mounts: Vec<MountPoint>,
    /// `NetworkSettings`: bridge endpoint and published ports.
    #[serde(default)]
    pub network_settings: NetworkSettingsInfo,
}

/// `docker inspect` `NetworkSettings`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkSettingsInfo {
    /// The container's network namespace file while it runs (empty otherwise).
    pub sandbox_key: String,
    /// `"80/tcp"` -> host bindings; `None` for an exposed port that is not published.
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    /// The endpoint on the default bridge, while attached.
    pub bridge: Option<BridgeEndpoint>,
    /// Every endpoint (default bridge and user-defined networks), primary first.
    #[serde(default)]
    pub networks: Vec<BridgeEndpoint>,
}

/// A container's endpoint on a bridge network (`NetworkSettings.Networks.bridge`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BridgeEndpoint {
    /// `bridge` for the default bridge.
    pub network: String,
    pub ip_address: String,
    pub ip_prefix_len: i64,
    pub gateway: String,
    pub mac_address: String,
    /// The host end of the veth pair.
    pub host_interface: String,
    /// The network's id (`bridge` for the default bridge).
    #[serde(default)]
    pub network_id: String,
    /// `--network-alias` names on this network.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A published port as `docker ps` lists it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublishedPort {
    pub ip: String,
    pub private_port: u16,
    pub public_port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
}

/// A volume or bind mount as `docker inspect` `Mounts` lists it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`.
    pub kind: String,
    pub name: String,
    pub source: String,
    pub destination: String,
    pub mode: String,
    pub rw: bool,
}

/// A line of `docker ps`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContainerSummary {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    pub image_id: String,
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub state: ContainerStatus,
    /// Human text: `Up 3 seconds`, `Exited (3) 2 seconds ago`, `Created`.
    pub status: String,
    pub labels: BTreeMap<String, String>,
    /// Published ports of a running container.
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
    /// Its binds, tmpfs mounts and volumes, as `docker inspect` shows them.
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
}

/// Filters of `docker ps`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContainerListOptions {
    pub all: bool,
    /// Docker's filter map (`status`, `name`, `ancestor`, `label`, `id`, ...).
    pub filters: BTreeMap<String, Vec<String>>,
}

/// Conditions of `POST /containers/{id}/wait`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum WaitCondition {
    #[default]
    NotRunning,
    NextExit,
    Removed,
}

/// What a wait ends with.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WaitOutcome {
    pub status_code: i64,
    pub error: Option<String>,
}

/// Which of a container's streams a chunk of output belongs to (the values are Docker's stream
/// multiplexing ids).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum StdStream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// `POST /containers/{id}/attach` parameters.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Stream output as it comes (otherwise only `logs`).
    pub stream: bool,
    /// Replay what was logged before the attach.
    pub logs: bool,
}

/// `docker info`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SystemInfo {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub driver_status: Vec<(String, String)>,
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub data_root: String,
    pub default_runtime: String,
    pub runtimes: Vec<String>,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_type: String,
    pub architecture: String,
    pub ncpu: i64,
    pub mem_total: i64,
    pub server_version: String,
    pub init_binary: String,
    /// `SecurityOptions`: `name=seccomp,profile=builtin`.
    #[serde(default)]
    pub security_options: Vec<String>,
}

/// `docker version`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: String,
    pub api_version: String,
    pub min_api_version: String,
    pub git_commit: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
}

// ---------------------------------------------------------------------------------------------
// Volumes

/// A volume as `docker volume inspect` shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// The host directory the volume's content lives in (`<data-root>/volumes/<name>/_data`).
    pub mountpoint: String,
    /// RFC 3339.
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// Whether the engine made it for a container (`-v /ctr`, image `VOLUME`) rather than a user
    /// naming it.
    pub anonymous: bool,
}

/// What `docker volume create` asks for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VolumeCreateSpec {
    /// Empty: a random 64-hex name.
    pub name: String,
    /// Empty or `local`.
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// What `docker volume prune` removed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VolumePruneReport {
    pub deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// One `--mount` request (`type=bind|volume|tmpfs,source=...,target=...`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountRequest {
    /// `bind`, `volume`, `tmpfs` (others are refused).
    pub kind: String,
    /// Host path (bind), volume name (volume; empty: anonymous), empty for tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// Volumes: do not populate from the image.
    pub no_copy: bool,
    /// tmpfs: size in bytes (0: the kernel's default).
    pub tmpfs_size_bytes: i64,
    /// tmpfs: permission bits (0: the kernel's default).
    pub tmpfs_mode: i64,
}

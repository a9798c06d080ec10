//! OCI bundle: the `config.json` a runtime executes, built with oci-spec.
//!
//! The spec follows what dockerd hands to runc: Docker's default mounts, capabilities, masked
//! and read-only paths, namespaces (pid, ipc, uts, mount, network), the user resolved from the
//! container's own passwd/group files, resources and no rlimits; a default seccomp profile
//! ([`seccomp`]) unless privileged or turned off.

mod capabilities;
mod defaults;
mod resources;
pub mod seccomp;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Linux, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder, Process,
    Root, RootBuilder, Spec, User, UserBuilder,
};

use self::defaults::{
    DEFAULT_MOUNTS, DEFAULT_PATH, INIT_PATH_IN_CONTAINER, MASKED_PATHS, NETNS_SYSCTLS,
    READONLY_PATHS,
};
pub use self::resources::HostSupport;
use crate::model::Resources;
use crate::runtime::user::resolve_user;
use crate::runtime::RuntimeError;

/// OCI runtime spec version the bundles declare (what runc 1.1 implements).
const OCI_VERSION: &str = "1.0.2-dev";

/// Which network namespace the container gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// A new namespace with loopback only.
    #[default]
    New,
    /// The host's namespace (`--network host`).
    Host,
    /// Join an existing namespace (`--network container:X`, or one the network code made).
    Path(PathBuf),
}

/// An extra mount: a bind mount (volumes, `-v`) or a tmpfs (`--tmpfs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleMount {
    pub destination: String,
    /// `bind` or `tmpfs`.
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
}

/// Everything the bundle needs, already merged from image and request.
#[derive(Clone, Debug, Default)]
pub struct BundleSpec {
    pub id: String,
    /// The container's root filesystem (the driver's `get` path of its rw layer).
    pub rootfs: PathBuf,
    /// The process: entrypoint + cmd, already merged.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// Docker's `-u` form: `""`, `name`, `uid`, `uid:gid`, `name:group`; resolved against the
    /// rootfs's /etc/passwd and /etc/group.
    pub user: String,
    pub hostname: String,
    pub domainname: String,
    pub tty: bool,
    pub read_only_rootfs: bool,
    /// `--init`: the host path of tini, bind-mounted at /sbin/docker-init and run as PID 1.
    pub init: Option<PathBuf>,
    pub mounts: Vec<BundleMount>,
    pub resources: Resources,
    /// cgroups path handed to the runtime (e.g. `/strata/<id>`).
    pub cgroups_path: String,
    pub network: NetworkNamespace,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Apply the default seccomp profile (`false`: `--security-opt seccomp=unconfined`).
    /// Privileged containers run unconfined whatever this says, as with Docker.
    pub seccomp: bool,
    /// `--security-opt no-new-privileges`: the OCI `process.noNewPrivileges`.
    pub no_new_privileges: bool,
    /// `--oom-score-adj` (0: inherit).
    pub oom_score_adj: i64,
    /// `--shm-size` in bytes (0: Docker's 64 MiB).
    pub shm_size: i64,
}

/// Write `bundle_dir/config.json` for `spec`; returns its path.
///
/// The file appears atomically (temporary name, then rename); on error nothing is left behind.
pub fn write_bundle(bundle_dir: &Path, spec: &BundleSpec) -> Result<PathBuf, RuntimeError> {
    let oci = build_spec(spec, HostSupport::detect())?;
    let json = serde_json::to_vec_pretty(&oci).map_err(|e| {
        RuntimeError::Bundle(format!("serializing config.json of {}: {e}", spec.id))
    })?;
    std::fs::create_dir_all(bundle_dir).map_err(|e| {
        RuntimeError::io(
            format!("creating bundle directory {}", bundle_dir.display()),
            e,
        )
    })?;
    let path = bundle_dir.join("config.json");
    let tmp = bundle_dir.join(format!(".config.json.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(RuntimeError::io(format!("writing {}", path.display()), e));
    }
    Ok(path)
}

/// The OCI spec for `spec` on a host with `host`'s cgroup support.
pub fn build_spec(spec: &BundleSpec, host: HostSupport) -> Result<Spec, RuntimeError> {
    if spec.args.is_empty() {
        return Err(RuntimeError::InvalidSpec("no command specified".into()));
    }
    if !spec.rootfs.is_absolute() {
        return Err(RuntimeError::Bundle(format!(
            "rootfs {} is not an absolute path",
            spec.rootfs.display()
        )));
    }
    let mut oci = Spec::default();
    oci.set_version(OCI_VERSION.to_string());
    oci.set_root(Some(root(spec)?));
    oci.set_process(Some(process(spec)?));
    oci.set_hostname(non_empty(&spec.hostname));
    oci.set_domainname(non_empty(&spec.domainname));
    oci.set_mounts(Some(mounts(spec)?));
    oci.set_annotations(None);
    oci.set_hooks(None);
    oci.set_linux(Some(linux(spec, host)?));
    Ok(oci)
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn root(spec: &BundleSpec) -> Result<Root, RuntimeError> {
    RootBuilder::default()
        .path(spec.rootfs.clone())
        .readonly(spec.read_only_rootfs)
        .build()
        .map_err(|e| RuntimeError::Bundle(format!("root: {e}")))
}

fn process(spec: &BundleSpec) -> Result<Process, RuntimeError> {
    let resolved = resolve_user(&spec.rootfs, &spec.user)?;
    let mut user: UserBuilder = UserBuilder::default().uid(resolved.uid).gid(resolved.gid);
    if !resolved.additional_gids.is_empty() {
        user = user.additional_gids(resolved.additional_gids);
    }
    let user: User = user
        .build()
        .map_err(|e| RuntimeError::Bundle(format!("user: {e}")))?;

    let mut args = Vec::with_capacity(spec.args.len() + 2);
    if spec.init.is_some() {
        args.push(INIT_PATH_IN_CONTAINER.to_string());
        args.push("--".to_string());
    }
    args.extend(spec.args.iter().cloned());

    let names =
        capabilities::effective_capability_names(spec.privileged, &spec.cap_add, &spec.cap_drop)?;
    let caps = capabilities::linux_capabilities(&names)?;

    let mut process = Process::default();
    process.set_terminal(Some(spec.tty));
    process.set_console_size(None);
    process.set_user(user);
    process.set_args(Some(args));
    process.set_env(Some(environment(spec)));
    process.set_cwd(PathBuf::from(if spec.cwd.is_empty() {
        "/"
    } else {
        spec.cwd.as_str()
    }));
    process.set_capabilities(Some(caps));
    // This machine's root lacks CAP_SYS_RESOURCE: ask for no rlimits at all.
    process.set_rlimits(None);
    process.set_no_new_privileges(Some(spec.no_new_privileges));
    process.set_apparmor_profile(None);
    process.set_selinux_label(None);
    process.set_oom_score_adj(
        (spec.oom_score_adj != 0)
            .then(|| i32::try_from(spec.oom_score_adj))
            .transpose()
            .map_err(|_| {
                RuntimeError::InvalidSpec(format!(
                    "oom score adj {} out of range",
                    spec.oom_score_adj
                ))
            })?,
    );
    Ok(process)
}

/// The request's environment with Docker's defaults in front for what it leaves unset:
/// `PATH`, `HOSTNAME`, and `TERM=xterm` with a tty.
fn environment(spec: &BundleSpec) -> Vec<String> {
    let has = |key: &str| {
        spec.env
            .iter()
            .any(|e| e.split_once('=').map(|(k, _)| k) == Some(key))
    };
    let mut env = Vec::with_capacity(spec.env.len() + 3);
    if !has("PATH") {
        env.push(DEFAULT_PATH.to_string());
    }
    if !spec.hostname.is_empty() && !has("HOSTNAME") {
        env.push(format!("HOSTNAME={}", spec.hostname));
    }
    if spec.tty && !has("TERM") {
        env.push("TERM=xterm".to_string());
    }
    env.extend(spec.env.iter().cloned());
    env
}

fn mount(
    destination: &str,
    kind: &str,
    source: &str,
    options: Vec<String>,
) -> Result<Mount, RuntimeError> {
    MountBuilder::default()
        .destination(destination)
        .typ(kind)
        .source(source)
        .options(options)
        .build()
        .map_err(|e| RuntimeError::Bundle(format!("mount {destination}: {e}")))
}

/// Docker's default mounts (minus those the request mounts over), the init binary, then the
/// request's mounts.
fn mounts(spec: &BundleSpec) -> Result<Vec<Mount>, RuntimeError> {
    let overridden = |dest: &str| {
        spec.mounts
            .iter()
            .any(|m| m.destination.trim_end_matches('/') == dest)
    };
    let mut out = Vec::new();
    for d in DEFAULT_MOUNTS.iter().filter(|d| !overridden(d.destination)) {
        let mut options: Vec<String> = d.options.iter().map(|o| o.to_string()).collect();
        if spec.privileged && (d.kind == "sysfs" || d.kind == "cgroup") {
            options.retain(|o| o != "ro");
            options.push("rw".into());
        }
        if d.destination == "/dev/shm" && spec.shm_size > 0 {
            options.retain(|o| !o.starts_with("size="));
            options.push(format!("size={}", spec.shm_size));
        }
        out.push(mount(d.destination, d.kind, d.source, options)?);
    }
    if let Some(init) = &spec.init {
        let source = init
            .to_str()
            .ok_or_else(|| RuntimeError::Bundle(format!("init path {init:?} is not UTF-8")))?;
        out.push(mount(
            INIT_PATH_IN_CONTAINER,
            "bind",
            source,
            vec!["bind".into(), "ro".into()],
        )?);
    }
    for m in &spec.mounts {
        if !m.destination.starts_with('/') {
            return Err(RuntimeError::InvalidSpec(format!(
                "mount destination {:?} is not an absolute path",
                m.destination
            )));
        }
        let mut options = m.options.clone();
        if m.kind == "bind" {
            if !options.iter().any(|o| o == "bind" || o == "rbind") {
                options.insert(0, "rbind".into());
            }
            const PROPAGATION: &[&str] = &[
                "private", "rprivate", "shared", "rshared", "slave", "rslave",
            ];
            if !options.iter().any(|o| PROPAGATION.contains(&o.as_str())) {
                options.push("rprivate".into());
            }
        }
        out.push(mount(&m.destination, &m.kind, &m.source, options)?);
    }
    Ok(out)
}

fn namespace(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace, RuntimeError> {
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(path) = path {
        b = b.path(path.to_path_buf());
    }
    b.build()
        .map_err(|e| RuntimeError::Bundle(format!("namespace {typ:?}: {e}")))
}

fn linux(spec: &BundleSpec, host: HostSupport) -> Result<Linux, RuntimeError> {
    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Pid, None)?,
        namespace(LinuxNamespaceType::Ipc, None)?,
        namespace(LinuxNamespaceType::Uts, None)?,
        namespace(LinuxNamespaceType::Mount, None)?,
    ];
    let mut sysctl = HashMap::new();
    match &spec.network {
        NetworkNamespace::New => namespaces.push(namespace(LinuxNamespaceType::Network, None)?),
        NetworkNamespace::Path(p) => {
            namespaces.push(namespace(LinuxNamespaceType::Network, Some(p))?)
        }
        NetworkNamespace::Host => {}
    }
    if spec.network != NetworkNamespace::Host {
        for (key, value) in NETNS_SYSCTLS {
            if Path::new("/proc/sys").join(key.replace('.', "/")).exists() {
                sysctl.insert(key.to_string(), value.to_string());
            }
        }
    }
    let mut linux = Linux::default();
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_sysctl((!sysctl.is_empty()).then_some(sysctl));
    linux.set_resources(Some(resources::linux_resources(
        &spec.resources,
        spec.privileged,
        host,
    )?));
    linux.set_cgroups_path(non_empty(&spec.cgroups_path).map(PathBuf::from));
    linux.set_namespaces(Some(namespaces));
    linux.set_devices(None);
    linux.set_seccomp(if spec.seccomp && !spec.privileged {
        let names = capabilities::effective_capability_names(
            spec.privileged,
            &spec.cap_add,
            &spec.cap_drop,
        )?;
        Some(seccomp::default_profile(&names)?)
    } else {
        None
    });
    linux.set_rootfs_propagation(None);
    if spec.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        linux.set_masked_paths(Some(MASKED_PATHS.iter().map(|p| p.to_string()).collect()));
        linux.set_readonly_paths(Some(READONLY_PATHS.iter().map(|p| p.to_string()).collect()));
    }
    Ok(linux)
}

#[cfg(test)]
mod tests;

//! OCI bundle: the `config.json` a runtime executes, built with oci-spec.
//! (Skeleton: filled in by the runtime work.)

use std::path::{Path, PathBuf};

use crate::model::Resources;
use crate::runtime::RuntimeError;

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
}

/// Write `bundle_dir/config.json` for `spec`; returns its path.
pub fn write_bundle(_bundle_dir: &Path, _spec: &BundleSpec) -> Result<PathBuf, RuntimeError> {
    Err(RuntimeError::Bundle("not implemented yet".into()))
}

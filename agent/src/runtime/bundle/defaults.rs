//! Docker's defaults for a container's OCI spec: mounts, masked and read-only paths,
//! capabilities, sysctls and environment.

/// A mount as Docker adds it to every container (before the user's own mounts).
pub(crate) struct DefaultMount {
    pub destination: &'static str,
    pub kind: &'static str,
    pub source: &'static str,
    pub options: &'static [&'static str],
}

/// The mounts every container gets, in Docker's order.
pub(crate) const DEFAULT_MOUNTS: &[DefaultMount] = &[
    DefaultMount {
        destination: "/proc",
        kind: "proc",
        source: "proc",
        options: &["nosuid", "noexec", "nodev"],
    },
    DefaultMount {
        destination: "/dev",
        kind: "tmpfs",
        source: "tmpfs",
        options: &["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    DefaultMount {
        destination: "/dev/pts",
        kind: "devpts",
        source: "devpts",
        options: &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ],
    },
    DefaultMount {
        destination: "/sys",
        kind: "sysfs",
        source: "sysfs",
        options: &["nosuid", "noexec", "nodev", "ro"],
    },
    DefaultMount {
        destination: "/sys/fs/cgroup",
        kind: "cgroup",
        source: "cgroup",
        options: &["nosuid", "noexec", "nodev", "ro"],
    },
    DefaultMount {
        destination: "/dev/mqueue",
        kind: "mqueue",
        source: "mqueue",
        options: &["nosuid", "noexec", "nodev"],
    },
    DefaultMount {
        destination: "/dev/shm",
        kind: "tmpfs",
        source: "shm",
        options: &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
];

/// Where `--init` puts the init binary inside the container.
pub(crate) const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";

/// Paths Docker hides from unprivileged containers.
pub(crate) const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only in unprivileged containers.
pub(crate) const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default capability set (without the `CAP_` prefix).
pub(crate) const DEFAULT_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability the OCI spec types know (without the `CAP_` prefix), for `--privileged`
/// and `--cap-add ALL`.
pub(crate) const ALL_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Sysctls Docker sets in containers with their own network namespace, so unprivileged
/// processes may bind low ports and ping.
pub(crate) const NETNS_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.ip_unprivileged_port_start", "0"),
    ("net.ipv4.ping_group_range", "0 2147483647"),
];

/// `PATH` when neither the image nor the request sets one (Docker's default).
pub(crate) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

//! The default seccomp profile: a denylist (everything allowed but the syscalls below, which
//! fail with `EPERM`), smaller than Docker's allowlist but covering what its profile exists to
//! keep from containers: the kernel keyring, loading kernels and modules, raw I/O ports, swap,
//! reboot, handle-based opens, and, for a container without `CAP_SYS_ADMIN`, mounting and
//! entering or making namespaces. As in Docker, a syscall its capability allows is allowed when
//! the container has that capability (`--cap-add`), `--privileged` runs unconfined, and
//! `--security-opt seccomp=unconfined` turns the profile off.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscall, LinuxSyscallBuilder,
};

use crate::runtime::RuntimeError;

/// `/info` `SecurityOptions` entry of the profile (Docker's wording).
pub const SECURITY_OPTION: &str = "name=seccomp,profile=builtin";

/// Syscalls denied to every container.
const ALWAYS_DENIED: &[&str] = &[
    "add_key",
    "keyctl",
    "request_key",
    "userfaultfd",
    "uselib",
    "nfsservctl",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "lookup_dcookie",
    "vm86",
    "vm86old",
];

/// Syscalls denied unless the container holds the capability (name without `CAP_`).
const DENIED_WITHOUT: &[(&str, &[&str])] = &[
    (
        "SYS_ADMIN",
        &[
            "mount",
            "umount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "swapon",
            "swapoff",
            "bpf",
            "fanotify_init",
            "quotactl",
        ],
    ),
    ("SYS_BOOT", &["reboot", "kexec_load", "kexec_file_load"]),
    (
        "SYS_MODULE",
        &["init_module", "finit_module", "delete_module"],
    ),
    ("SYS_RAWIO", &["iopl", "ioperm"]),
    ("DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("SYS_PACCT", &["acct"]),
    (
        "SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_adjtime"],
    ),
];

/// The syscalls the default profile denies to a container with `capabilities` (names without
/// `CAP_`), sorted.
pub(crate) fn denied_syscalls(capabilities: &[String]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = ALWAYS_DENIED.to_vec();
    for (capability, syscalls) in DENIED_WITHOUT {
        if !capabilities.iter().any(|c| c == capability) {
            out.extend_from_slice(syscalls);
        }
    }
    out.sort_unstable();
    out
}

/// The architectures the filter covers: the native one and its compat ABIs (a denylist that
/// left i386 or x32 syscalls out would be bypassed through them).
fn architectures() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}

/// The profile for a container with `capabilities`.
pub(crate) fn default_profile(capabilities: &[String]) -> Result<LinuxSeccomp, RuntimeError> {
    let bad = |e: oci_spec::OciSpecError| RuntimeError::Bundle(format!("seccomp profile: {e}"));
    let denied: LinuxSyscall = LinuxSyscallBuilder::default()
        .names(
            denied_syscalls(capabilities)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
        .action(LinuxSeccompAction::ScmpActErrno)
        .errno_ret(libc::EPERM as u32)
        .build()
        .map_err(bad)?;
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(architectures())
        .syscalls(vec![denied])
        .build()
        .map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_allow_what_they_cover() {
        let plain = denied_syscalls(&["CHOWN".to_string()]);
        for name in [
            "keyctl",
            "mount",
            "unshare",
            "swapoff",
            "reboot",
            "init_module",
        ] {
            assert!(plain.contains(&name), "{name} denied by default");
        }
        let admin = denied_syscalls(&["SYS_ADMIN".to_string()]);
        assert!(!admin.contains(&"mount") && !admin.contains(&"unshare"));
        assert!(admin.contains(&"keyctl") && admin.contains(&"reboot"));
    }

    #[test]
    fn profile_allows_by_default_and_answers_eperm() {
        let profile = default_profile(&[]).unwrap();
        let json = serde_json::to_value(&profile).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(json["syscalls"][0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(json["syscalls"][0]["errnoRet"], libc::EPERM);
        assert!(json["architectures"]
            .as_array()
            .is_some_and(|a| !a.is_empty()));
    }
}

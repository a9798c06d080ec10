//! The `-init` layer between an image and its container (moby's idea): `/etc/hostname`,
//! `/etc/hosts`, `/etc/resolv.conf`, `/.dockerenv` and empty mount points, written into the
//! layer's tree without ever following a symlink the image put there.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use tracing::warn;

use crate::error::{EngineError, Result};
use crate::model::{HostSpec, ResolvedConfig};

/// The generated contents of the files a container's network identity needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdentityFiles {
    pub hostname: String,
    pub hosts: String,
    pub resolv_conf: String,
}

fn host_network(host: &HostSpec) -> bool {
    host.network_mode == "host"
}

/// `/etc/hosts`: loopback names, `--add-host` entries, and the container's own name on loopback.
fn hosts_file(config: &ResolvedConfig, host: &HostSpec) -> String {
    if host_network(host) {
        if let Ok(text) = fs::read_to_string("/etc/hosts") {
            return text;
        }
    }
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for entry in &host.extra_hosts {
        // The CLI sends `name:ip` (older) or `name=ip`; an IPv6 address has colons of its own.
        let split = entry.split_once('=').or_else(|| entry.split_once(':'));
        if let Some((name, ip)) = split {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            out.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    if config.domainname.is_empty() {
        out.push_str(&format!("127.0.0.1\t{}\n", config.hostname));
    } else {
        out.push_str(&format!(
            "127.0.0.1\t{}.{} {}\n",
            config.hostname, config.domainname, config.hostname
        ));
    }
    out
}

/// `/etc/resolv.conf`: the host's, without loopback name servers (unreachable from the
/// container's own network namespace), or `--dns` servers instead of the host's.
fn resolv_conf(host: &HostSpec) -> String {
    let host_text = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if host_network(host) && host.dns.is_empty() {
        return host_text;
    }
    let mut out = String::new();
    for line in host_text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let server = words.next().unwrap_or("");
            let loopback = server.starts_with("127.") || server == "::1";
            if loopback || !host.dns.is_empty() {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    for server in &host.dns {
        out.push_str(&format!("nameserver {server}\n"));
    }
    out
}

/// What the container's identity files hold.
pub(crate) fn identity_files(config: &ResolvedConfig, host: &HostSpec) -> IdentityFiles {
    let hostname = if host_network(host) && config.hostname.is_empty() {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    } else {
        config.hostname.clone()
    };
    IdentityFiles {
        hostname: format!("{hostname}\n"),
        hosts: hosts_file(config, host),
        resolv_conf: resolv_conf(host),
    }
}

/// Directories the runtime mounts over; they must exist in the tree.
const MOUNT_POINT_DIRS: &[&str] = &["proc", "sys", "dev", "dev/pts", "dev/shm", "etc"];
/// Empty files mounted over or expected by tools.
const EMPTY_FILES: &[&str] = &[".dockerenv", "dev/console"];

/// Populate the `-init` layer whose tree is at `root`.
pub(crate) fn populate(root: &Path, files: &IdentityFiles) -> Result<()> {
    for dir in MOUNT_POINT_DIRS {
        if let Err(e) = ensure_dir(root, Path::new(dir)) {
            warn!(path = %dir, error = %e, "init layer: leaving mount point as the image has it");
        }
    }
    for file in EMPTY_FILES {
        write_file(root, Path::new(file), b"", true)?;
    }
    write_file(
        root,
        Path::new("etc/hostname"),
        files.hostname.as_bytes(),
        false,
    )?;
    write_file(root, Path::new("etc/hosts"), files.hosts.as_bytes(), false)?;
    write_file(
        root,
        Path::new("etc/resolv.conf"),
        files.resolv_conf.as_bytes(),
        false,
    )?;
    let mtab = root.join("etc/mtab");
    if fs::symlink_metadata(&mtab).is_err() && is_real_dir(&root.join("etc")) {
        std::os::unix::fs::symlink("/proc/mounts", &mtab)
            .map_err(|e| EngineError::io(format!("creating {}", mtab.display()), e))?;
    }
    Ok(())
}

fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .map(|m| m.is_dir())
        .unwrap_or(false)
}

/// Make `rel` (relative to `root`) a directory, creating missing components; refuses to go
/// through a symlink or a non-directory.
fn ensure_dir(root: &Path, rel: &Path) -> Result<PathBuf> {
    let mut path = root.to_path_buf();
    for component in rel.components() {
        let Component::Normal(name) = component else {
            return Err(EngineError::Internal(format!(
                "init layer: bad path {}",
                rel.display()
            )));
        };
        path.push(name);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(EngineError::Conflict(format!(
                    "init layer: {} is not a directory in the image",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&path)
                    .map_err(|e| EngineError::io(format!("creating {}", path.display()), e))?;
            }
            Err(e) => return Err(EngineError::io(format!("inspecting {}", path.display()), e)),
        }
    }
    Ok(path)
}

/// Write `content` at `rel` under `root` through a temporary name and a rename (so a symlink the
/// image has there is replaced, never followed). With `only_if_missing`, an existing entry is left
/// alone. A directory in the way, or a parent that is not a real directory, is skipped with a
/// warning: the image then keeps its own.
fn write_file(root: &Path, rel: &Path, content: &[u8], only_if_missing: bool) -> Result<()> {
    let parent_rel = rel.parent().unwrap_or(Path::new(""));
    let parent = match ensure_dir(root, parent_rel) {
        Ok(p) => p,
        Err(e) => {
            warn!(path = %rel.display(), error = %e, "init layer: not writing file");
            return Ok(());
        }
    };
    let Some(name) = rel.file_name() else {
        return Err(EngineError::Internal(format!(
            "init layer: bad path {}",
            rel.display()
        )));
    };
    let target = parent.join(name);
    match fs::symlink_metadata(&target) {
        Ok(_) if only_if_missing => return Ok(()),
        Ok(meta) if meta.is_dir() => {
            warn!(path = %target.display(), "init layer: a directory is in the way, not writing");
            return Ok(());
        }
        _ => {}
    }
    let tmp = parent.join(format!(".strata-tmp-{}", name.to_string_lossy()));
    let _ = fs::remove_file(&tmp);
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        fs::rename(&tmp, &target)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        EngineError::io(format!("writing {}", target.display()), e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn populate_replaces_symlinks_and_never_follows_them() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("etc")).unwrap();
        let victim = outside.path().join("hosts");
        fs::write(&victim, "untouched").unwrap();
        std::os::unix::fs::symlink(&victim, root.join("etc/hosts")).unwrap();
        let config = ResolvedConfig {
            hostname: "abc".into(),
            ..Default::default()
        };
        let files = identity_files(&config, &HostSpec::default());
        populate(root, &files).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        let hosts = fs::read_to_string(root.join("etc/hosts")).unwrap();
        assert!(hosts.contains("127.0.0.1\tlocalhost"));
        assert!(hosts.contains("127.0.0.1\tabc"));
        assert_eq!(
            fs::read_to_string(root.join("etc/hostname")).unwrap(),
            "abc\n"
        );
        assert!(root.join(".dockerenv").is_file());
        for d in ["proc", "sys", "dev/pts", "dev/shm"] {
            assert!(root.join(d).is_dir(), "{d} should exist");
        }
    }

    #[test]
    fn loopback_nameservers_are_dropped_and_dns_replaces() {
        let host = HostSpec {
            dns: vec!["10.0.0.1".into()],
            ..Default::default()
        };
        let text = resolv_conf(&host);
        assert!(text.contains("nameserver 10.0.0.1"));
        assert!(!text.contains("nameserver 127."));
    }
}

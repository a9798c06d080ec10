//! Resolving Docker's `-u` forms (`""`, `name`, `uid`, `uid:gid`, `name:group`, ...) against the
//! container's own `/etc/passwd` and `/etc/group`, the way Docker (through runc's user package)
//! does it.
//!
//! The files are opened with `openat2(RESOLVE_IN_ROOT)`, so a symlink inside an image such as
//! `etc/passwd -> /etc/shadow` resolves inside the rootfs, never on the host.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::runtime::RuntimeError;

/// Who the container's process runs as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: only for the implicit-group forms (`name`, `uid`), as Docker does.
    pub additional_gids: Vec<u32>,
}

/// One line of a passwd file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

/// One line of a group file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolve `user` (Docker's `-u` value) against the passwd and group files of `rootfs`.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ResolvedUser, RuntimeError> {
    let passwd = read_in_root(rootfs, "etc/passwd")?;
    let group = read_in_root(rootfs, "etc/group")?;
    resolve_with(user, passwd.as_deref(), group.as_deref())
}

/// The resolution itself, on file contents (`None`: the file does not exist).
fn resolve_with(
    user: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, RuntimeError> {
    let (user_arg, group_arg) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let group_arg = group_arg.filter(|g| !g.is_empty());
    // An empty user means root, looked up by uid 0 for its primary and supplementary groups.
    let user_arg = if user_arg.is_empty() { "0" } else { user_arg };
    let numeric_uid = parse_id(user_arg);

    let users: Vec<PasswdEntry> = passwd.map(parse_passwd).unwrap_or_default();
    let matched = users.iter().find(|u| match numeric_uid {
        Some(uid) => u.uid == uid,
        None => u.name == user_arg,
    });
    let (uid, mut gid, user_name) = match (matched, numeric_uid) {
        (Some(entry), _) => (entry.uid, entry.gid, Some(entry.name.as_str())),
        (None, Some(uid)) => (uid, 0, None),
        (None, None) => return Err(RuntimeError::NoSuchUser(user_arg.to_string())),
    };

    let groups: Vec<GroupEntry> = group.map(parse_group).unwrap_or_default();
    let mut additional_gids = Vec::new();
    match group_arg {
        Some(group_arg) => {
            let numeric_gid = parse_id(group_arg);
            let found = groups.iter().find(|g| match numeric_gid {
                Some(n) => g.gid == n,
                None => g.name == group_arg,
            });
            gid = match (found, numeric_gid) {
                (Some(entry), _) => entry.gid,
                (None, Some(n)) => n,
                (None, None) => return Err(RuntimeError::NoSuchGroup(group_arg.to_string())),
            };
        }
        None => {
            if let Some(name) = user_name {
                for g in groups
                    .iter()
                    .filter(|g| g.members.iter().any(|m| m == name))
                {
                    if !additional_gids.contains(&g.gid) {
                        additional_gids.push(g.gid);
                    }
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

/// A non-negative id that fits in an `int`, as runc accepts them.
fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|n| *n <= i32::MAX as u32)
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: fields[0].to_string(),
                uid: parse_id(fields[2])?,
                gid: parse_id(fields[3])?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 3 {
                return None;
            }
            let members = fields
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some(GroupEntry {
                name: fields[0].to_string(),
                gid: parse_id(fields[2])?,
                members,
            })
        })
        .collect()
}

/// Read `relative` inside `root` with symlinks resolved as if `root` were `/`. `None` when the
/// file does not exist.
fn read_in_root(root: &Path, relative: &str) -> Result<Option<String>, RuntimeError> {
    let context = || format!("reading {relative} in rootfs {}", root.display());
    let root_dir = File::open(root).map_err(|e| RuntimeError::io(context(), e))?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let raw = match openat2(std::os::fd::AsRawFd::as_raw_fd(&root_dir), relative, how) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
        Err(e) => return Err(RuntimeError::io(context(), e.into())),
    };
    // SAFETY: openat2 just returned this descriptor and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut bytes = Vec::new();
    File::from(fd)
        .read_to_end(&mut bytes)
        .map_err(|e| RuntimeError::io(context(), e))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
                          app:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:app,root\nstaff:x:50:app\napp:x:1000:\n";

    fn resolve(user: &str) -> Result<ResolvedUser, RuntimeError> {
        resolve_with(user, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn empty_user_is_root_with_its_groups() {
        let u = resolve("").unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert_eq!(u.additional_gids, vec![10]);
    }

    #[test]
    fn name_takes_uid_gid_and_supplementary_groups_from_files() {
        let u = resolve("app").unwrap();
        assert_eq!(
            u,
            ResolvedUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10, 50]
            }
        );
    }

    #[test]
    fn numeric_uid_needs_no_passwd_entry() {
        assert_eq!(
            resolve("4242").unwrap(),
            ResolvedUser {
                uid: 4242,
                gid: 0,
                additional_gids: vec![]
            }
        );
        assert_eq!(
            resolve_with("7:8", None, None).unwrap(),
            ResolvedUser {
                uid: 7,
                gid: 8,
                additional_gids: vec![]
            }
        );
    }

    #[test]
    fn numeric_uid_with_entry_takes_its_gid() {
        assert_eq!(resolve("1").unwrap().gid, 1);
    }

    #[test]
    fn explicit_group_by_name_or_number_drops_supplementary_groups() {
        assert_eq!(
            resolve("app:staff").unwrap(),
            ResolvedUser {
                uid: 1000,
                gid: 50,
                additional_gids: vec![]
            }
        );
        assert_eq!(
            resolve("app:77").unwrap(),
            ResolvedUser {
                uid: 1000,
                gid: 77,
                additional_gids: vec![]
            }
        );
    }

    #[test]
    fn missing_user_or_group_names_are_errors_with_docker_wording() {
        let err = resolve("nobody").unwrap_err();
        assert!(matches!(err, RuntimeError::NoSuchUser(ref n) if n == "nobody"));
        assert_eq!(
            err.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        let err = resolve("app:nogroup").unwrap_err();
        assert!(matches!(err, RuntimeError::NoSuchGroup(ref n) if n == "nogroup"));
        assert!(matches!(
            resolve_with("app", None, None),
            Err(RuntimeError::NoSuchUser(_))
        ));
    }

    #[test]
    fn symlinked_passwd_resolves_inside_the_rootfs() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::create_dir_all(root.path().join("data")).unwrap();
        std::fs::write(
            root.path().join("data/passwd"),
            "svc:x:321:654::/:/bin/sh\n",
        )
        .unwrap();
        // Absolute target: must be taken relative to the rootfs, not the host.
        std::os::unix::fs::symlink("/data/passwd", root.path().join("etc/passwd")).unwrap();
        let u = resolve_user(root.path(), "svc").unwrap();
        assert_eq!((u.uid, u.gid), (321, 654));
    }
}

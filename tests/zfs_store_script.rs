//! `deploy/storage/zfs.sh up` against a zfs-fuse that cannot store xattrs, as Debian's package
//! starts it on a fresh machine (its init script runs the daemon before anyone enabled xattrs):
//! the script restarts it with `--enable-xattr` when it holds no pool but the test pool, and
//! stops the run, saying why, when it holds someone else's pool.
//!
//! Needs the zfs test store up (`eval "$(bash deploy/storage/zfs.sh up)"`, as deploy/test.sh
//! does). It restarts the shared zfs-fuse daemon, so it is one test in a binary of its own (cargo
//! runs test binaries one after another) and leaves the daemon as `zfs.sh up` makes it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use strata_test_support::docker_cli::require_root;

const ZFSRC: &str = "/etc/zfs/zfsrc";

fn zfs_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/storage/zfs.sh")
}

fn run(program: &str, args: &[&str]) -> Result<Output> {
    Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program} {}", args.join(" ")))
}

fn run_ok(program: &str, args: &[&str]) -> Result<String> {
    let out = run(program, args)?;
    ensure!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The pool of the test store, from the variable zfs.sh printed (`POOL/strata`).
fn test_pool() -> String {
    let fsname = std::env::var("STRATA_TEST_ZFS_FSNAME").unwrap_or_else(|_| {
        panic!(
            "this test needs the zfs test store: run `eval \"$(bash deploy/storage/zfs.sh up)\"` \
             first (deploy/test.sh does)"
        )
    });
    fsname.split('/').next().unwrap_or_default().to_string()
}

/// The running zfs-fuse daemons' pids.
fn daemon_pids() -> Vec<u32> {
    let out = run("ps", &["-C", "zfs-fuse", "-o", "pid=,stat="]).map(|o| o.stdout);
    String::from_utf8_lossy(&out.unwrap_or_default())
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let pid = f.next()?.parse().ok()?;
            (!f.next()?.starts_with('Z')).then_some(pid)
        })
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Stop every zfs-fuse (datasets of `pools` unmounted first, deepest first).
fn stop_daemon(pools: &[&str]) -> Result<()> {
    for pool in pools {
        let listing = run("zfs", &["list", "-H", "-r", "-o", "name,mounted", pool])?;
        let text = String::from_utf8_lossy(&listing.stdout).into_owned();
        let mut mounted: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(_, m)| *m == "yes")
            .map(|(n, _)| n)
            .collect();
        mounted.sort_by_key(|n| std::cmp::Reverse(n.len()));
        for name in mounted {
            run("zfs", &["unmount", name])?;
        }
    }
    for pid in daemon_pids() {
        run_ok("kill", &[&pid.to_string()])?;
    }
    wait_until("zfs-fuse to stop", Duration::from_secs(30), || {
        daemon_pids().is_empty()
    })
}

/// Start zfs-fuse as Debian's init script would with the package's own configuration, i.e.
/// without xattr support: `/etc/zfs/zfsrc` is put back as it was right after.
fn start_daemon_without_xattrs() -> Result<()> {
    let saved = std::fs::read_to_string(ZFSRC).with_context(|| format!("reading {ZFSRC}"))?;
    let without: String = saved
        .lines()
        .map(|l| {
            if l.trim() == "enable-xattr" {
                "# enable-xattr".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(ZFSRC, without + "\n")?;
    // zfs-fuse refuses to start while its pid file exists, even a stale one.
    let pidfile = "/run/strata-test-noxattr.pid";
    let _ = std::fs::remove_file(pidfile);
    let started = run("zfs-fuse", &["--pidfile", pidfile]);
    std::fs::write(ZFSRC, &saved).with_context(|| format!("restoring {ZFSRC}"))?;
    let started = started?;
    ensure!(
        started.status.success(),
        "zfs-fuse did not start: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    wait_until("zfs-fuse to answer", Duration::from_secs(30), || {
        run("zpool", &["list"]).is_ok_and(|o| o.status.success())
    })
}

/// Whether a new dataset of `pool` stores a `user.*` xattr.
fn pool_stores_xattrs(pool: &str, scratch: &Path) -> Result<bool> {
    let dataset = format!("{pool}/xattr-check");
    let dir = scratch.join("xattr-check");
    let mountpoint = format!("mountpoint={}", dir.display());
    // The pool may be in zfs-fuse's cache only: import it like zfs.sh would.
    if !run("zpool", &["list", pool])?.status.success() {
        let store = std::env::var("STRATA_TEST_STORE_DIR")
            .unwrap_or_else(|_| "/var/lib/strata-test".to_string());
        run_ok("zpool", &["import", "-d", &store, pool])?;
    }
    run_ok("zfs", &["create", "-o", &mountpoint, &dataset])?;
    let stored = run(
        "setfattr",
        &["-n", "user.check", "-v", "1", &dir.to_string_lossy()],
    )?
    .status
    .success();
    run_ok("zfs", &["set", "mountpoint=none", &dataset])?;
    wait_until("the check dataset to go", Duration::from_secs(20), || {
        run("zfs", &["destroy", &dataset]).is_ok_and(|o| o.status.success())
    })?;
    Ok(stored)
}

fn zfs_sh_up() -> Result<Output> {
    Command::new("bash")
        .arg(zfs_sh())
        .arg("up")
        .output()
        .context("running zfs.sh up")
}

#[test]
fn zfs_sh_up_restarts_a_zfs_fuse_without_xattrs_unless_it_holds_other_pools() -> Result<()> {
    require_root()?;
    let pool = test_pool();
    let scratch = tempfile::tempdir()?;

    // A daemon without xattr support, holding only the test pool: restarted, and says so.
    stop_daemon(&[&pool])?;
    start_daemon_without_xattrs()?;
    ensure!(
        !pool_stores_xattrs(&pool, scratch.path())?,
        "the daemon started without enable-xattr stores xattrs: the test shows nothing"
    );
    let out = zfs_sh_up()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "zfs.sh up failed:\n{stderr}");
    ensure!(
        stderr.contains("cannot store xattrs")
            && stderr.contains("restarting it with --enable-xattr"),
        "zfs.sh up says what it did:\n{stderr}"
    );
    ensure!(
        pool_stores_xattrs(&pool, scratch.path())?,
        "after zfs.sh up the pool stores xattrs:\n{stderr}"
    );

    // The same daemon holding someone else's pool too: left alone, and the run stops.
    let foreign_img = scratch.path().join("foreign.img");
    run_ok("truncate", &["-s", "128M", &foreign_img.to_string_lossy()])?;
    stop_daemon(&[&pool])?;
    start_daemon_without_xattrs()?;
    run_ok(
        "zpool",
        &[
            "create",
            "-m",
            "none",
            "strata-foreign",
            &foreign_img.to_string_lossy(),
        ],
    )?;
    let out = zfs_sh_up()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let pids_after = daemon_pids();
    // Put things back before judging: foreign pool gone, the store as zfs.sh up makes it.
    run_ok("zpool", &["destroy", "-f", "strata-foreign"])?;
    let again = zfs_sh_up()?;
    ensure!(
        again.status.success(),
        "zfs.sh up after the foreign pool went:\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
    ensure!(
        !out.status.success(),
        "zfs.sh up succeeded on a daemon without xattrs:\n{stderr}"
    );
    ensure!(
        stderr.contains("holds other pools (strata-foreign")
            && stderr.contains("not restarting it"),
        "zfs.sh up names the other pool and what to do:\n{stderr}"
    );
    ensure!(
        pids_after.len() == 1,
        "the daemon holding another pool was left running: {pids_after:?}"
    );
    ensure!(
        pool_stores_xattrs(&pool, scratch.path())?,
        "the store ends as zfs.sh up makes it"
    );
    Ok(())
}

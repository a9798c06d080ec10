//! Permissions (issue 13), end to end on vfs, overlay2, btrfs and zfs:
//! - Another local user (`nobody`, through `setpriv`) finds nothing under the data and exec roots
//!   that it can list, search, read, write, connect to or execute, while a container runs (its
//!   mounts live) and after one wrote a setuid-root copy of a shell into its read-write layer,
//!   with an image carrying a setuid-root shell and device nodes (CVE-2021-41091's class: before,
//!   `<data-root>/overlay2/<id>/diff/x -p -c id` gave `euid=0`).
//! - The metadata database, its WAL and SHM and the container's log are 0600; the roots 0711.
//! - A root left with loose modes (0755 directories, 0644 files, as older versions made them) is
//!   closed again by the next start.
//! - Inside containers nothing changed: a container running as user 65534 reads /etc/hosts,
//!   /etc/resolv.conf, /etc/hostname and the image's files, and writes into a named volume whose
//!   directory the image made world-writable.
//!
//! The test's temporary root (0700 from `tempfile`) is opened to 0755 first, as `/var/lib` is,
//! so the only barriers the probe meets are Strata's own. `probe_reports_what_it_can_reach`
//! shows the probe finds a setuid-root shell, a device node, a file and a directory when they
//! are reachable. btrfs and zfs need the backing stores of `deploy/storage/` (see
//! `strata_test_support::stores`) and fail without them.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use strata_test_support::daemon::{DaemonOptions, StrataDaemon};
use strata_test_support::image_builder::{LayerEntry, TestImage};
use strata_test_support::stores::{btrfs_mount, ZfsDataset};

const IMAGE: &str = "strata-test/permissions:1";
/// The host's shell copied into the image setuid root: dash keeps its privileges with `-p`.
const HOST_SHELL: &str = "/bin/dash";
/// Where the image carries it.
const IMAGE_ROOTSH: &str = "usr/local/bin/rootsh";
/// A secret passed in the environment, as the issue's `-e DB_PASSWORD=...`.
const SECRET_ENV: &str = "DB_PASSWORD=perms-test-secret-7f3a";
/// The unprivileged user the probe runs as.
const NOBODY: u32 = 65534;
/// The walk of the roots gives up past this many entries (the test image holds a few hundred).
const WALK_LIMIT: usize = 100_000;
/// How long the running container may take to write its setuid copy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// The driver under test and what it needs (the zfs dataset lives as long as the test).
enum Driver {
    Vfs,
    Overlay2,
    Btrfs { mount: PathBuf },
    Zfs(ZfsDataset),
}

impl Driver {
    fn btrfs() -> Result<Driver> {
        Ok(Driver::Btrfs {
            mount: btrfs_mount()?,
        })
    }

    fn zfs() -> Result<Driver> {
        Ok(Driver::Zfs(ZfsDataset::for_test()?))
    }

    fn name(&self) -> &'static str {
        match self {
            Driver::Vfs => "vfs",
            Driver::Overlay2 => "overlay2",
            Driver::Btrfs { .. } => "btrfs",
            Driver::Zfs(_) => "zfs",
        }
    }

    fn options(&self) -> DaemonOptions {
        match self {
            Driver::Vfs | Driver::Overlay2 => DaemonOptions::default(),
            Driver::Btrfs { mount } => DaemonOptions::default().root_parent(mount),
            Driver::Zfs(dataset) => dataset.daemon_options(),
        }
    }

    /// A daemon on this driver with the test image loaded, its temporary root opened to 0755.
    fn start(&self, work: &Path) -> Result<StrataDaemon> {
        let d = StrataDaemon::start_with(strata_bin(), self.name(), &self.options())?;
        let base = d
            .data_root()
            .parent()
            .context("the data root has a parent")?;
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("opening {} to other users", base.display()))?;
        let archive = work.join("image.tar");
        test_image()?.build_docker_archive(&archive)?;
        d.docker_ok(["load", "-i", path_str(&archive)?])?;
        Ok(d)
    }
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

/// busybox plus what a hostile local user looks for: a setuid-root shell, device nodes; and what
/// a non-root container user needs: a 0644 file, a world-writable volume directory.
fn test_image() -> Result<TestImage> {
    let shell = std::fs::read(HOST_SHELL)
        .with_context(|| format!("reading {HOST_SHELL} (Debian's dash) for the setuid copy"))?;
    Ok(TestImage::busybox(IMAGE)
        .layer(
            "setuid shell, devices, app files",
            vec![
                LayerEntry::dir("usr/local"),
                LayerEntry::dir("usr/local/bin"),
                LayerEntry::File {
                    path: IMAGE_ROOTSH.into(),
                    data: shell,
                    mode: 0o4755,
                },
                LayerEntry::dir("opt"),
                LayerEntry::CharDevice {
                    path: "opt/zero".into(),
                    major: 1,
                    minor: 5,
                    mode: 0o666,
                },
                LayerEntry::CharDevice {
                    path: "opt/null".into(),
                    major: 1,
                    minor: 3,
                    mode: 0o666,
                },
                LayerEntry::file("etc/app.conf", "from the image\n"),
                LayerEntry::Dir {
                    path: "shared".into(),
                    mode: 0o777,
                },
            ],
        )
        .volume("/shared"))
}

/// What a path under the roots is, as root sees it (`lstat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    /// A regular file with the setuid or setgid bit.
    SetId,
    Char,
    Block,
    Fifo,
    Socket,
    Symlink,
}

impl Kind {
    fn of(md: &std::fs::Metadata) -> Kind {
        let ft = md.file_type();
        if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_char_device() {
            Kind::Char
        } else if ft.is_block_device() {
            Kind::Block
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_socket() {
            Kind::Socket
        } else if md.mode() & 0o6000 != 0 {
            Kind::SetId
        } else {
            Kind::File
        }
    }

    /// The prober's code for it.
    fn code(self) -> &'static str {
        match self {
            Kind::Dir => "d",
            Kind::File => "f",
            Kind::SetId => "s",
            Kind::Char | Kind::Block | Kind::Fifo => "n",
            Kind::Socket => "S",
            Kind::Symlink => "l",
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    path: PathBuf,
    kind: Kind,
    mode: u32,
}

/// Every path under `roots` (not the roots themselves), as root lists them: into mounts too
/// (a running container's merged tree, zfs datasets), never through symlinks; at most
/// [`WALK_LIMIT`] entries.
fn walk(roots: &[&Path]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut pending: Vec<PathBuf> = roots.iter().map(|r| r.to_path_buf()).collect();
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // Gone while walking (a container's exec files, a probe mount): nothing to check.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        };
        for entry in entries {
            let path = entry?.path();
            let md = match std::fs::symlink_metadata(&path) {
                Ok(md) => md,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("lstat {}", path.display())),
            };
            let kind = Kind::of(&md);
            if kind == Kind::Dir {
                pending.push(path.clone());
            }
            out.push(Entry {
                path,
                kind,
                mode: md.mode() & 0o7777,
            });
            ensure!(
                out.len() <= WALK_LIMIT,
                "more than {WALK_LIMIT} entries under {roots:?}: the walk gives up"
            );
        }
    }
    Ok(out)
}

/// The probe, in Perl (part of every Debian system): reads `CODE<TAB>PATH` lines and prints a
/// `HIT` line for everything it managed. Directories: list (`d`, `D`), search (`d` only); files
/// and nodes: open for reading and writing (non-blocking, no controlling tty); regular files:
/// `access(X_OK)`; setuid files: run as the issue did (`-p -c 'id -u'`) and print the euid;
/// sockets: connect.
const PROBER: &str = r#"
use strict;
use warnings;
use Fcntl qw(O_RDONLY O_WRONLY O_NONBLOCK O_NOCTTY);
use POSIX ();
use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);
$| = 1;
print "PROBER\t$<\t$>\n";
while (my $line = <STDIN>) {
    chomp $line;
    my ($code, $path) = split /\t/, $line, 2;
    if ($code eq 'd' || $code eq 'D') {
        if (opendir(my $dh, $path)) { my @names = readdir($dh); closedir($dh); print "HIT\tlist\t$path\n"; }
        print "HIT\tsearch\t$path\n" if $code eq 'd' && POSIX::access($path, POSIX::X_OK());
        next;
    }
    if ($code eq 'S') {
        socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
        print "HIT\tconnect\t$path\n" if connect($s, pack_sockaddr_un($path));
        close($s);
        next;
    }
    if (sysopen(my $fh, $path, O_RDONLY | O_NONBLOCK | O_NOCTTY)) { close($fh); print "HIT\tread\t$path\n"; }
    if (sysopen(my $fh, $path, O_WRONLY | O_NONBLOCK | O_NOCTTY)) { close($fh); print "HIT\twrite\t$path\n"; }
    next unless $code eq 'f' || $code eq 's';
    print "HIT\texecute\t$path\n" if POSIX::access($path, POSIX::X_OK());
    if ($code eq 's' && open(my $out, '-|', $path, '-p', '-c', 'id -u')) {
        my $euid = join('', <$out>);
        close($out);
        chomp $euid;
        print "HIT\tran\t$path\teuid=$euid\n" if length $euid;
    }
}
print "DONE\n";
"#;

/// Run the probe as `nobody` (`setpriv --reuid=65534 --regid=65534 --clear-groups`) over
/// `items`; returns its `HIT` lines.
fn probe_as_nobody(items: &[(PathBuf, &str)]) -> Result<Vec<String>> {
    let mut input = String::new();
    for (path, code) in items {
        let text = path_str(path)?;
        ensure!(
            !text.contains('\n') && !text.contains('\t'),
            "path {text:?} cannot be handed to the probe"
        );
        input.push_str(&format!("{code}\t{text}\n"));
    }
    let ids = NOBODY.to_string();
    let mut child = Command::new("setpriv")
        .arg(format!("--reuid={ids}"))
        .arg(format!("--regid={ids}"))
        .args(["--clear-groups", "--", "perl", "-e", PROBER])
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running setpriv (util-linux) with perl")?;
    let mut stdin = child.stdin.take().context("the probe's stdin")?;
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().context("waiting for the probe")?;
    feeder
        .join()
        .map_err(|_| anyhow::anyhow!("the probe's input thread panicked"))?
        .context("feeding the probe")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success() && stdout.ends_with("DONE\n"),
        "the probe did not finish ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let first = stdout.lines().next().unwrap_or_default();
    ensure!(
        first == format!("PROBER\t{ids}\t{ids}"),
        "the probe runs as uid {ids} (real and effective): {first:?}"
    );
    Ok(stdout
        .lines()
        .filter(|l| l.starts_with("HIT\t"))
        .map(str::to_string)
        .collect())
}

/// Fail unless `nobody` reaches nothing under the daemon's roots, and the walk saw what the
/// scenario put there (so an empty result means closed, not missed).
fn assert_nothing_reachable(d: &StrataDaemon, when: &str) -> Result<()> {
    let roots = [d.data_root(), d.exec_root()];
    let entries = walk(&roots)?;
    let named = |name: &str, kind: Kind| {
        entries
            .iter()
            .any(|e| e.kind == kind && e.path.file_name().is_some_and(|n| n == name))
    };
    let mut expected = vec![
        ("x", Kind::SetId),
        ("rootsh", Kind::SetId),
        ("zero", Kind::Char),
        ("strata.db-wal", Kind::File),
        ("strata.sock", Kind::Socket),
    ];
    if d.driver() != "zfs" {
        // zfs mounts a dataset only while it is in use: the stopped container's is not on the
        // host's filesystem at all.
        expected.push(("y", Kind::SetId));
    }
    for (name, kind) in expected {
        ensure!(
            named(name, kind),
            "{when}: the walk of {roots:?} found no {kind:?} named {name} ({} entries)",
            entries.len()
        );
    }
    let mut items: Vec<(PathBuf, &str)> = roots.iter().map(|r| (r.to_path_buf(), "D")).collect();
    items.extend(
        entries
            .iter()
            .filter(|e| e.kind != Kind::Symlink)
            .map(|e| (e.path.clone(), e.kind.code())),
    );
    let hits = probe_as_nobody(&items)?;
    ensure!(
        hits.is_empty(),
        "{when}: user {NOBODY} succeeded {} times on the {} paths probed under the {} roots:\n{}",
        hits.len(),
        items.len(),
        d.driver(),
        hits.join("\n")
    );
    for root in roots {
        let mode = std::fs::metadata(root)?.mode() & 0o7777;
        ensure!(
            mode == 0o711,
            "{when}: {} is {mode:o}, not 711",
            root.display()
        );
    }
    Ok(())
}

/// The metadata database, its WAL and SHM, and container `name`'s log are 0600.
fn assert_secrets_private(d: &StrataDaemon, name: &str, when: &str) -> Result<()> {
    let log = d.docker_ok(["inspect", "--format", "{{.LogPath}}", name])?;
    let db = d.db_path();
    let mut files = vec![PathBuf::from(log.trim())];
    for suffix in ["", "-wal", "-shm"] {
        files.push(PathBuf::from(format!("{}{suffix}", db.display())));
    }
    for file in files {
        let mode = std::fs::metadata(&file)
            .with_context(|| format!("{when}: stat {}", file.display()))?
            .mode()
            & 0o7777;
        ensure!(
            mode == 0o600,
            "{when}: {} is {mode:o}, not 600",
            file.display()
        );
    }
    Ok(())
}

/// Wait until container `name` printed `line` in its log.
fn wait_for_log(d: &StrataDaemon, name: &str, line: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        let logs = d.docker_ok(["logs", name])?;
        if logs.lines().any(|l| l == line) {
            return Ok(());
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!("container {name} did not print {line:?} in time; logs:\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Loosen the modes as an older version left them: every directory that is 0700 or 0711 to
/// 0755, every regular file that is 0600 to 0644 (layer content included: it must stay
/// unreachable through the directories above it).
fn loosen(roots: &[&Path]) -> Result<usize> {
    let mut changed = 0;
    let mut all = walk(roots)?;
    all.extend(roots.iter().map(|r| Entry {
        path: r.to_path_buf(),
        kind: Kind::Dir,
        mode: 0o711,
    }));
    for e in all {
        let loose = match (e.kind, e.mode) {
            (Kind::Dir, 0o700 | 0o711) => 0o755,
            (Kind::File, 0o600) => 0o644,
            _ => continue,
        };
        match std::fs::set_permissions(&e.path, std::fs::Permissions::from_mode(loose)) {
            Ok(()) => changed += 1,
            // Read-only layers (btrfs snapshots of image layers) stay as they are.
            Err(err) if err.kind() == std::io::ErrorKind::ReadOnlyFilesystem => {}
            Err(err) => {
                return Err(err).with_context(|| format!("chmod {loose:o} {}", e.path.display()))
            }
        }
    }
    Ok(changed)
}

/// The scenario on one driver: containers with setuid copies and a secret, the probe, the
/// modes, then a loosened root closed again by a restart.
fn closed_to_other_users(driver: Driver) -> Result<()> {
    let work = tempfile::tempdir()?;
    let mut d = driver.start(work.path())?;
    let copy = format!("cp /{IMAGE_ROOTSH} /x && chmod 4755 /x");
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "live",
        "-e",
        SECRET_ENV,
        "-v",
        "permsvol:/shared",
        IMAGE,
        "sh",
        "-c",
        &format!("{copy} && echo $DB_PASSWORD > /shared/note && echo ready && sleep 600"),
    ])?;
    wait_for_log(&d, "live", "ready")?;
    d.docker_ok([
        "run",
        "--name",
        "done",
        "-e",
        SECRET_ENV,
        IMAGE,
        "sh",
        "-c",
        &format!("cp /{IMAGE_ROOTSH} /y && chmod 4755 /y && echo $DB_PASSWORD"),
    ])?;

    assert_nothing_reachable(&d, "with a container running")?;
    assert_secrets_private(&d, "live", "with a container running")?;

    d.stop()?;
    let loosened = loosen(&[d.data_root(), d.exec_root()])?;
    ensure!(loosened > 0, "there were modes to loosen");
    d.restart(&driver.options())?;
    assert_nothing_reachable(&d, "after a restart on a loosened root")?;
    assert_secrets_private(&d, "live", "after a restart on a loosened root")?;
    let euid = d.docker_ok(["exec", "live", "id", "-u"])?;
    ensure!(
        euid == "0\n",
        "the container still runs after the restart: {euid:?}"
    );
    d.docker_ok(["rm", "-f", "live", "done"])?;
    Ok(())
}

/// A container running as user 65534 sees the modes it expects: it reads /etc/hosts,
/// /etc/resolv.conf, /etc/hostname and the image's files, and writes into a named volume whose
/// directory the image made world-writable.
fn container_user_unaffected(driver: Driver) -> Result<()> {
    let work = tempfile::tempdir()?;
    let d = driver.start(work.path())?;
    let out = d.docker_ok([
        "run",
        "--rm",
        "--user",
        &NOBODY.to_string(),
        "-v",
        "usersvol:/shared",
        IMAGE,
        "sh",
        "-c",
        "id -u; cat /etc/hosts /etc/resolv.conf /etc/hostname > /dev/null && echo read; \
         cat /etc/app.conf; echo written > /shared/by-nobody && cat /shared/by-nobody; \
         stat -c '%a %n' / /etc /etc/hosts /etc/resolv.conf /etc/hostname /etc/app.conf \
         /bin/busybox /shared",
    ])?;
    let expected = "65534\nread\nfrom the image\nwritten\n755 /\n755 /etc\n644 /etc/hosts\n\
                    644 /etc/resolv.conf\n644 /etc/hostname\n644 /etc/app.conf\n\
                    755 /bin/busybox\n777 /shared\n";
    ensure!(
        out == expected,
        "as user {NOBODY} on {}:\n{out}\nexpected:\n{expected}",
        driver.name()
    );
    Ok(())
}

#[test]
fn probe_reports_what_it_can_reach() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let shell = dir.path().join("rootsh");
    std::fs::copy(HOST_SHELL, &shell).with_context(|| format!("copying {HOST_SHELL}"))?;
    std::fs::set_permissions(&shell, std::fs::Permissions::from_mode(0o4755))?;
    let file = dir.path().join("secret");
    std::fs::write(&file, SECRET_ENV)?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
    let sub = dir.path().join("dir");
    std::fs::create_dir(&sub)?;
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755))?;
    let zero = dir.path().join("zero");
    let made = Command::new("mknod")
        .args(["-m", "666", path_str(&zero)?, "c", "1", "5"])
        .status()
        .context("running mknod")?;
    ensure!(made.success(), "mknod {}: {made}", zero.display());
    let closed = dir.path().join("closed");
    std::fs::write(&closed, SECRET_ENV)?;
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o600))?;

    let hits = probe_as_nobody(&[
        (shell.clone(), Kind::SetId.code()),
        (file.clone(), Kind::File.code()),
        (sub.clone(), Kind::Dir.code()),
        (zero.clone(), Kind::Char.code()),
        (closed.clone(), Kind::File.code()),
    ])?;
    let hit =
        |what: &str, path: &Path, extra: &str| format!("HIT\t{what}\t{}{extra}", path.display());
    let expected = [
        hit("read", &shell, ""),
        hit("execute", &shell, ""),
        hit("ran", &shell, "\teuid=0"),
        hit("read", &file, ""),
        hit("list", &sub, ""),
        hit("search", &sub, ""),
        hit("read", &zero, ""),
        hit("write", &zero, ""),
    ];
    ensure!(
        hits == expected,
        "the probe reports what user {NOBODY} can reach and nothing else:\n{}\nexpected:\n{}",
        hits.join("\n"),
        expected.join("\n")
    );
    Ok(())
}

#[test]
fn closed_to_other_users_vfs() -> Result<()> {
    closed_to_other_users(Driver::Vfs)
}

#[test]
fn closed_to_other_users_overlay2() -> Result<()> {
    closed_to_other_users(Driver::Overlay2)
}

#[test]
fn closed_to_other_users_btrfs() -> Result<()> {
    closed_to_other_users(Driver::btrfs()?)
}

#[test]
fn closed_to_other_users_zfs() -> Result<()> {
    closed_to_other_users(Driver::zfs()?)
}

#[test]
fn container_user_unaffected_vfs() -> Result<()> {
    container_user_unaffected(Driver::Vfs)
}

#[test]
fn container_user_unaffected_overlay2() -> Result<()> {
    container_user_unaffected(Driver::Overlay2)
}

#[test]
fn container_user_unaffected_btrfs() -> Result<()> {
    container_user_unaffected(Driver::btrfs()?)
}

#[test]
fn container_user_unaffected_zfs() -> Result<()> {
    container_user_unaffected(Driver::zfs()?)
}

//! Bad input through `docker load`, for vfs and overlay2: a truncated archive, a layer whose
//! digest does not match, a `../` entry, writes through symlinks that leave the root, and hostile
//! outer archives. Each makes the docker CLI exit non-zero with a message naming the problem,
//! and leaves nothing new on disk, in the metadata or in the mount table (nor on the host).

use std::path::Path;

use anyhow::{ensure, Context, Result};
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::hostile;
use strata_test_support::image_builder::{Compression, TestImage};

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// One hostile archive: how to build it, and words of which the error must contain one.
struct Case {
    name: &'static str,
    build: fn(&Path) -> Result<()>,
    expect_any: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "truncated archive",
        build: |p| {
            let image = TestImage::busybox("strata-test/truncated:1").random_layers(2, 256 * 1024);
            hostile::truncated_docker_archive(&image, p).map(drop)
        },
        expect_any: &["truncated"],
    },
    Case {
        name: "layer digest mismatch",
        build: |p| {
            hostile::diff_id_mismatch("strata-test/mismatch:1")
                .build_docker_archive(p)
                .map(drop)
        },
        expect_any: &["digest mismatch"],
    },
    Case {
        name: "blob digest mismatch (OCI layout)",
        build: |p| {
            TestImage::busybox("strata-test/blobmismatch:1")
                .random_layers(1, 16 * 1024)
                .compression(Compression::Gzip)
                .corrupt_blob_digest(1)
                .build_oci_layout(p)
                .map(drop)
        },
        expect_any: &["digest mismatch"],
    },
    Case {
        name: "../ entry in a layer",
        build: |p| {
            hostile::path_escape("strata-test/dotdot:1")
                .build_docker_archive(p)
                .map(drop)
        },
        expect_any: &["\"../evil\""],
    },
    Case {
        name: "write through a symlink to /etc",
        build: |p| {
            hostile::write_through_symlink("strata-test/symlink:1")
                .build_docker_archive(p)
                .map(drop)
        },
        expect_any: &["through symlink"],
    },
    Case {
        name: "symlink escaping the root",
        build: |p| {
            hostile::escaping_symlink("strata-test/escape:1")
                .build_docker_archive(p)
                .map(drop)
        },
        expect_any: &["points out of", "outside"],
    },
    Case {
        name: "../ entry in the outer archive",
        build: hostile::outer_path_escape,
        expect_any: &["\"../evil\""],
    },
    Case {
        // Refused at the first entry while the CLI is still uploading: the CLI must still get
        // the error message, not a broken pipe.
        name: "../ entry before 64 MiB more of upload",
        build: |p| {
            hostile::outer_path_escape(p)?;
            let mut file = std::fs::OpenOptions::new().append(true).open(p)?;
            let block = vec![0u8; 1024 * 1024];
            for _ in 0..64 {
                std::io::Write::write_all(&mut file, &block)?;
            }
            Ok(())
        },
        expect_any: &["\"../evil\""],
    },
    Case {
        name: "outer manifest.json is a symlink",
        build: hostile::outer_symlink_escape,
        expect_any: &["\"manifest.json\" links"],
    },
];

fn contents(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn bad_input(driver: &str) -> Result<()> {
    let work = tempfile::tempdir()?;
    let d = StrataDaemon::start(strata_bin(), driver)?;

    // A good image already loaded: bad loads must not disturb it either.
    let good = work.path().join("good.tar");
    TestImage::busybox("strata-test/good:1")
        .random_layers(1, 16 * 1024)
        .build_docker_archive(&good)?;
    d.docker_ok(["load", "-i", good.to_str().context("utf-8 path")?])?;
    let passwd_before = contents(Path::new("/etc/passwd"))?;

    let mut failures = Vec::new();
    for case in CASES {
        let archive = work.path().join(format!(
            "{}.tar",
            case.name.replace([' ', '/', '(', ')'], "_")
        ));
        (case.build)(&archive).with_context(|| format!("building the {} archive", case.name))?;
        let before = d.snapshot()?;
        let out = d.docker(["load", "-i", archive.to_str().context("utf-8 path")?]);
        eprintln!(
            "[{driver}] {}: exit {}: {}",
            case.name,
            out.code(),
            out.stderr_text().trim()
        );
        let stderr = out.stderr_text().to_lowercase();
        if out.code() == 0 {
            failures.push(format!(
                "{}: docker load succeeded:\n{}",
                case.name,
                out.describe()
            ));
        } else if !stderr.contains("error response from daemon") {
            failures.push(format!(
                "{}: not an API error:\n{}",
                case.name,
                out.describe()
            ));
        } else if !case
            .expect_any
            .iter()
            .any(|w| stderr.contains(&w.to_lowercase()))
        {
            failures.push(format!(
                "{}: the message does not name the problem (expected one of {:?}):\n{}",
                case.name,
                case.expect_any,
                out.describe()
            ));
        }
        let after = d.snapshot()?;
        let diff = after.diff_from(&before);
        if !diff.is_empty() {
            failures.push(format!("{}: left a trace:\n{diff}", case.name));
        }
    }

    ensure!(
        contents(Path::new("/etc/passwd"))? == passwd_before,
        "/etc/passwd was modified"
    );
    ensure!(
        !Path::new("/etc/strata-evil").exists(),
        "/etc/strata-evil was written through a symlink"
    );
    ensure!(
        !work.path().join("evil").exists(),
        "an ../evil entry escaped"
    );
    ensure!(
        failures.is_empty(),
        "{} of {} hostile archives misbehaved:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );

    // The good image survived all of it and still runs.
    let out = d.docker([
        "run",
        "--rm",
        "strata-test/good:1",
        "sh",
        "-c",
        "echo still-here",
    ]);
    ensure!(
        out.code() == 0 && out.stdout_text() == "still-here\n",
        "good image runs: {}",
        out.describe()
    );
    Ok(())
}

#[test]
fn bad_input_vfs() -> Result<()> {
    bad_input("vfs")
}

#[test]
fn bad_input_overlay2() -> Result<()> {
    bad_input("overlay2")
}

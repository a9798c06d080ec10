//! First light, end to end: a real `strata serve` on a temporary root, driven by the stock docker
//! CLI, for vfs and overlay2. The scenario (load, images, inspect, history, run, create/start/wait,
//! ps, GraphDriver paths, nothing left after rm + rmi) is
//! `strata_test_support::first_light::first_light`, shared with the btrfs and zfs runs in
//! `e2e_cow_drivers.rs`.

use std::path::Path;

use anyhow::Result;
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::first_light::first_light;

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn first_light_on(driver: &str) -> Result<()> {
    let mut d = StrataDaemon::start(strata_bin(), driver)?;
    first_light(&mut d)
}

#[test]
fn first_light_vfs() -> Result<()> {
    first_light_on("vfs")
}

#[test]
fn first_light_overlay2() -> Result<()> {
    first_light_on("overlay2")
}

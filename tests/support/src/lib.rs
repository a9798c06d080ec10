//! Helpers for Strata's tests: test images built from busybox-static and random data (nothing is
//! downloaded), hostile archives, and a harness that runs `strata serve` on a temporary root and
//! drives it with the stock docker CLI.

pub mod cgroups;
pub mod daemon;
pub mod docker_cli;
pub mod first_light;
pub mod hostile;
pub mod image_builder;
pub mod net;
pub mod registry;
pub mod stores;

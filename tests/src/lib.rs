//! Helpers for the end-to-end tests: building test images (busybox-static plus random layers)
//! and running `strata serve` on a temporary root.

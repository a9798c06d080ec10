//! The driver conformance suite for every driver that works on any Linux host.

use strata_drivers::conformance::DriverFixture;

strata_drivers::conformance_suite!(vfs, || DriverFixture::new("vfs"));
strata_drivers::conformance_suite!(overlay2, || DriverFixture::new("overlay2"));

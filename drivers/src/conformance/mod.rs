//! The driver conformance suite: one body of tests every graph driver runs unchanged (in the
//! spirit of containerd's snapshotter test suite).
//!
//! A driver's test file instantiates it with a fixture factory:
//!
//! ```text
//! use strata_drivers::conformance::DriverFixture;
//! strata_drivers::conformance_suite!(vfs, || DriverFixture::new("vfs"));
//! ```
//!
//! which expands to a module `vfs` with one `#[test]` per case. Each case gets a fresh driver in
//! a fresh directory; dropping the fixture unmounts and deletes everything.

pub mod cases;
pub mod fixture;
pub mod helpers;
pub mod tars;
pub mod tree;

pub use fixture::DriverFixture;

/// Expand to a module named `$module` holding one `#[test]` per conformance case, each run on
/// a fixture made by `$fixture` (an expression callable with no arguments returning a
/// [`DriverFixture`]).
#[macro_export]
macro_rules! conformance_suite {
    ($module:ident, $fixture:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_case_list!([$crate::__conformance_cases] $fixture;);
        }
    };
}

/// The one list of conformance cases: calls the macro named in brackets with the tokens that
/// follow and then every case's name. `cases/mod.rs` makes the case functions from it and
/// [`conformance_suite!`] the tests, so a case is listed once.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_case_list {
    ([$($callback:tt)*] $($prefix:tt)*) => {
        $($callback)*!(
            $($prefix)*
            lifecycle,
            layers_listed,
            usage_grows,
            metadata_reported,
            parent_chain,
            stack_128,
            remove_refused,
            deleted_file,
            deleted_dir,
            opaque_dir,
            file_replaced_by_dir,
            dir_replaced_by_file,
            hard_links,
            symlinks,
            xattrs,
            mode_bits,
            ownership,
            mtime_preserved,
            diff_apply_roundtrip,
            refcounting,
            concurrent_users,
            reconcile_after_restart,
            hostile_path_escape,
            hostile_symlink_escape,
            hostile_through_symlink,
            hostile_hardlink,
            truncated_tar,
        );
    };
}

/// Implementation detail of [`conformance_suite!`]: one test function per case name.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($fixture:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let make = $fixture;
                let fixture: $crate::conformance::DriverFixture = make();
                $crate::conformance::cases::$case(&fixture);
            }
        )*
    };
}

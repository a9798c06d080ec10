//! The cases of the conformance suite, one function each, taking a fresh fixture.
//!
//! The one list of cases is `__conformance_case_list!` (in `conformance/mod.rs`): it makes the
//! public functions here and the per-driver `#[test]`s. A case written in a file below and not
//! listed there is an unused private function, which `deny(dead_code)` turns into a compile
//! error, so no case can be forgotten.
#![deny(dead_code)]

use super::DriverFixture;

mod chains;
mod hostile;
mod lifecycle;
mod metadata;
mod refcount;
mod restart;
mod roundtrip;
mod whiteouts;

/// Every case function of the files above, by name.
mod by_file {
    pub(super) use super::chains::*;
    pub(super) use super::hostile::*;
    pub(super) use super::lifecycle::*;
    pub(super) use super::metadata::*;
    pub(super) use super::refcount::*;
    pub(super) use super::restart::*;
    pub(super) use super::roundtrip::*;
    pub(super) use super::whiteouts::*;
}

/// One public function per listed case.
macro_rules! export_cases {
    ($($case:ident),* $(,)?) => {
        $(
            pub fn $case(fixture: &DriverFixture) {
                by_file::$case(fixture)
            }
        )*
    };
}

crate::__conformance_case_list!([export_cases]);

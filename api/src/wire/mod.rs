//! Conversions between the engine's domain types and Docker's wire JSON (bollard-stubs types).
//! Pure functions, no engine calls.

pub mod containers;
pub mod exec;
pub mod filters;
pub mod images;
pub mod mounts;
pub mod network_endpoints;
pub mod network_settings;
pub mod progress;
pub mod stats;
pub mod system;
pub mod volumes;

use std::collections::{BTreeMap, HashMap};

/// A `BTreeMap` as the `HashMap` the wire types use.
pub(crate) fn to_hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A wire `HashMap` as a `BTreeMap` (sorted, as the domain types keep them).
pub(crate) fn to_btree_map(map: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

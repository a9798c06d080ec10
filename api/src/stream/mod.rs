//! Streaming response helpers: Docker's stdio multiplexing and bodies whose content comes later.

pub mod deferred;
pub mod mux;

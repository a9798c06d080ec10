//! Streaming helpers: Docker's stdio multiplexing, bodies whose content comes later, uploads
//! streamed into the engine.

pub mod deferred;
pub mod detach;
pub mod mux;
pub mod upload;

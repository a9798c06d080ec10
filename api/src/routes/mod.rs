//! The HTTP routes, one file per area. Paths are declared without the `/v1.NN` prefix (see
//! [`crate::version`]).

pub mod attach;
pub mod containers;
pub mod exec;
pub mod image_transfer;
pub mod images;
pub mod metrics;
pub mod networks;
pub mod pull_push;
pub mod stats;
pub mod lifecycle;
pub mod system;
pub mod volumes;

use axum::Router;
use strata_agent::Engine;

use crate::error::ApiError;

/// Every route, bound to `engine`, with Docker's 404 for anything else.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .merge(system::stateless_routes())
        .merge(system::routes())
        .merge(images::routes())
        .merge(image_transfer::routes())
        .merge(containers::routes())
        .merge(attach::routes())
        .merge(lifecycle::routes())
        .merge(exec::routes())
        .merge(metrics::routes())
        .merge(stats::routes())
        .merge(volumes::routes())
        .merge(networks::routes())
        .merge(pull_push::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            engine.clone(),
            crate::metrics::track_requests,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(engine)
}

/// Docker's answer for an unknown path.
pub async fn not_found() -> ApiError {
    ApiError::PageNotFound
}

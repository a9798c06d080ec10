//! What callers ask of `docker commit` and `docker import`.

use serde::{Deserialize, Serialize};

/// `docker commit` parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommitOptions {
    /// Repository to tag the new image in (`None`: untagged).
    pub repo: Option<String>,
    pub tag: Option<String>,
    /// `-m`: the history row's and the image's comment.
    pub comment: String,
    /// `-a`.
    pub author: String,
    /// `-c` Dockerfile instructions (`CMD`, `ENV`, ...), applied in order.
    pub changes: Vec<String>,
    /// Freeze the container while its changes are read (Docker's default).
    pub pause: bool,
}

/// `docker import` parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportOptions {
    /// What the tar came from, for the default comment (`-` for the request body).
    pub source: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    /// `-m`: the history row's comment (default `Imported from <source>`).
    pub message: String,
    pub changes: Vec<String>,
}

//! Finding an image from what a user typed, in Docker's order: a full id (`sha256:<hex>` or bare
//! 64 hex), then a reference (`busybox`, `user/app:1`, `name@sha256:...`), then an unambiguous id
//! prefix (`3f57d9401f8d`, `sha256:3f57`).

use rusqlite::Connection;

use super::records;
use super::reference::Reference;
use crate::error::{EngineError, Result};
use crate::layers::digest::is_sha256_hex;
use crate::layers::Digest;

/// How an image was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FoundBy {
    /// By a stored reference (normalized).
    Reference(Reference),
    /// By its id, an id prefix, or a digest reference that names its id.
    Id,
}

/// An image found by [`find`].
#[derive(Clone, Debug)]
pub struct Found {
    pub id: Digest,
    pub by: FoundBy,
}

/// Find the image `input` names.
pub fn find(conn: &Connection, input: &str) -> Result<Found> {
    let by_id = |id: Digest| -> Result<Found> {
        match records::get(conn, id.as_str())? {
            Some(_) => Ok(Found {
                id,
                by: FoundBy::Id,
            }),
            None => Err(EngineError::NoSuchImage(input.to_string())),
        }
    };

    if let Some(hex) = input.strip_prefix("sha256:") {
        if is_sha256_hex(hex) {
            return by_id(Digest::from_hex(hex).map_err(EngineError::Internal)?);
        }
        if is_hex_prefix(hex) {
            return by_prefix(conn, input, hex);
        }
        return Err(EngineError::InvalidReference {
            reference: input.to_string(),
            reason: "an image id is sha256: followed by lowercase hex".into(),
        });
    }
    if is_sha256_hex(input) {
        return by_id(Digest::from_hex(input).map_err(EngineError::Internal)?);
    }

    let reference = Reference::parse_with_default_tag(input)?;
    if let Some(id) = records::ref_target(conn, &reference.to_string())? {
        let id = Digest::parse(&id)
            .map_err(|e| EngineError::Internal(format!("reference {reference}: {e}")))?;
        return Ok(Found {
            id,
            by: FoundBy::Reference(reference),
        });
    }
    if let Some(digest) = reference.digest() {
        // No repo digest is stored for images loaded from archives: accept `name@<image id>` when
        // the image carries a tag of that repository.
        let repo = format!("{}:", reference.name());
        if records::get(conn, digest.as_str())?.is_some()
            && records::refs_of(conn, digest.as_str())?
                .iter()
                .any(|r| r.starts_with(&repo))
        {
            return Ok(Found {
                id: digest.clone(),
                by: FoundBy::Id,
            });
        }
        return Err(EngineError::NoSuchImage(reference.familiar()));
    }
    if is_hex_prefix(input) {
        return match by_prefix(conn, input, input) {
            Err(EngineError::NoSuchImage(_)) => Err(EngineError::NoSuchImage(reference.familiar())),
            other => other,
        };
    }
    Err(EngineError::NoSuchImage(reference.familiar()))
}

fn by_prefix(conn: &Connection, input: &str, hex: &str) -> Result<Found> {
    let ids = records::ids_with_prefix(conn, hex, 2)?;
    match ids.as_slice() {
        [] => Err(EngineError::NoSuchImage(input.to_string())),
        [one] => Ok(Found {
            id: Digest::parse(one)
                .map_err(|e| EngineError::Internal(format!("image id {one}: {e}")))?,
            by: FoundBy::Id,
        }),
        _ => Err(EngineError::InvalidArgument(format!(
            "multiple IDs found with provided prefix: {input}"
        ))),
    }
}

/// 1 to 63 lowercase hex characters.
fn is_hex_prefix(text: &str) -> bool {
    !text.is_empty()
        && text.len() < 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `input` is (a prefix of) `id` itself rather than a name: Docker's `isImageIDPrefix`.
pub fn is_id_prefix(id: &Digest, input: &str) -> bool {
    id.as_str().starts_with(input) || id.hex().starts_with(input)
}

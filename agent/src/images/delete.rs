//! `docker rmi` with Docker's semantics: a name untags; the image itself goes when its last
//! reference goes and no container uses it; an id with several references, or an image that a
//! container uses, is a conflict unless forced; forcing untags but never deletes an image that
//! containers still use. Layers the image alone needed are released in the same transaction.

use rusqlite::Transaction;

use super::lookup::{self, FoundBy};
use super::records;
use super::reference::Reference;
use crate::error::{EngineError, Result};
use crate::layers::{Digest, LayerStore};
use crate::model::ImageDeleteItem;

/// Remove the image (or reference) `name`.
pub fn remove(layers: &LayerStore, name: &str, force: bool) -> Result<Vec<ImageDeleteItem>> {
    let (items, released) = layers.release_with("removing an image", |tx| {
        let found = lookup::find(tx, name)?;
        let mut plan = Removal {
            tx,
            id: found.id.clone(),
            force,
            items: Vec::new(),
        };
        let by_reference = match found.by {
            FoundBy::Reference(reference) if !lookup::is_id_prefix(&found.id, name) => {
                Some(reference)
            }
            _ => None,
        };
        let top = match by_reference {
            Some(reference) => plan.by_reference(name, &reference)?,
            None => plan.by_id()?,
        };
        Ok((plan.items, top.into_iter().collect()))
    })?;
    let mut items = items;
    items.extend(
        released
            .into_iter()
            .map(|l| ImageDeleteItem::Deleted(l.chain_id.to_string())),
    );
    Ok(items)
}

struct Removal<'t, 'c> {
    tx: &'t Transaction<'c>,
    id: Digest,
    force: bool,
    items: Vec<ImageDeleteItem>,
}

impl Removal<'_, '_> {
    /// `rmi name:tag`: untag; delete the image if that was its last reference.
    /// Returns the top layer to release when the image was deleted.
    fn by_reference(&mut self, typed: &str, reference: &Reference) -> Result<Option<Digest>> {
        let refs = records::refs_of(self.tx, self.id.as_str())?;
        let containers = records::containers_using(self.tx, self.id.as_str())?;
        if let (Some(container), 1) = (containers.first(), refs.len()) {
            if !self.force {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{typed}\" (must force) - container {} is using its referenced image {}",
                    short(&container.id),
                    self.id.short()
                )));
            }
            self.untag_all(&refs)?;
            return Ok(None);
        }
        let removed = reference.to_string();
        records::delete_ref(self.tx, &removed)?;
        self.items
            .push(ImageDeleteItem::Untagged(reference.familiar()));
        let mut remaining: Vec<String> = refs.into_iter().filter(|r| *r != removed).collect();
        if reference.digest().is_none() {
            remaining = self.untag_orphaned_digests(reference, remaining)?;
        }
        if !remaining.is_empty() {
            return Ok(None);
        }
        self.delete_image()
    }

    /// After a tag of `repo` went: when no other tag of that repository is left, its digest
    /// references (`repo@sha256:...`, recorded by a pull) go too, as with dockerd; otherwise
    /// `rmi NAME:TAG` of a pulled image would leave it behind under its digest. Returns the
    /// references that remain.
    fn untag_orphaned_digests(
        &mut self,
        repo: &Reference,
        remaining: Vec<String>,
    ) -> Result<Vec<String>> {
        let parsed: Vec<(String, Option<Reference>)> = remaining
            .into_iter()
            .map(|r| {
                let p = Reference::parse_normalized(&r).ok();
                (r, p)
            })
            .collect();
        let same_repo = |p: &Option<Reference>| p.as_ref().is_some_and(|p| p.name() == repo.name());
        let tag_left = parsed
            .iter()
            .any(|(_, p)| same_repo(p) && p.as_ref().is_some_and(|p| p.digest().is_none()));
        if tag_left {
            return Ok(parsed.into_iter().map(|(r, _)| r).collect());
        }
        let mut kept = Vec::new();
        for (name, p) in parsed {
            if same_repo(&p) {
                records::delete_ref(self.tx, &name)?;
                let shown = p.map(|p| p.familiar()).unwrap_or_else(|| name.clone());
                self.items.push(ImageDeleteItem::Untagged(shown));
            } else {
                kept.push(name);
            }
        }
        Ok(kept)
    }

    /// `rmi <id>`: with at most one tag (all references in one repository) untag and delete;
    /// otherwise a conflict unless forced.
    fn by_id(&mut self) -> Result<Option<Digest>> {
        let refs = records::refs_of(self.tx, self.id.as_str())?;
        if is_single_reference(&refs) {
            self.untag_all(&refs)?;
        }
        self.delete_image()
    }

    /// Delete the image unless something forbids it; returns its top layer.
    fn delete_image(&mut self) -> Result<Option<Digest>> {
        let id = self.id.clone();
        let refs = records::refs_of(self.tx, id.as_str())?;
        let containers = records::containers_using(self.tx, id.as_str())?;
        if !records::children_of(self.tx, id.as_str())?.is_empty() {
            return Err(conflict(&id, true, "image has dependent child images"));
        }
        if let Some(running) = containers.iter().find(|c| c.running) {
            return Err(conflict(
                &id,
                true,
                &format!(
                    "image is being used by running container {}",
                    short(&running.id)
                ),
            ));
        }
        if !self.force {
            if refs.len() > 1 {
                return Err(conflict(
                    &id,
                    false,
                    "image is referenced in multiple repositories",
                ));
            }
            if let Some(stopped) = containers.first() {
                return Err(conflict(
                    &id,
                    false,
                    &format!(
                        "image is being used by stopped container {}",
                        short(&stopped.id)
                    ),
                ));
            }
        }
        self.untag_all(&refs)?;
        if !containers.is_empty() {
            // Forced: the tags are gone, but the containers keep their image.
            return Ok(None);
        }
        let Some(image) = records::get(self.tx, id.as_str())? else {
            return Err(EngineError::NoSuchImage(id.to_string()));
        };
        records::delete(self.tx, id.as_str())?;
        self.items.push(ImageDeleteItem::Deleted(id.to_string()));
        Ok(image.top_layer)
    }

    fn untag_all(&mut self, refs: &[String]) -> Result<()> {
        for name in refs {
            records::delete_ref(self.tx, name)?;
            let shown = Reference::parse_normalized(name)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| name.clone());
            self.items.push(ImageDeleteItem::Untagged(shown));
        }
        Ok(())
    }
}

/// At most one tag, and every reference in one repository (Docker's `isSingleReference`).
fn is_single_reference(refs: &[String]) -> bool {
    let repos: std::collections::BTreeSet<String> = refs
        .iter()
        .filter_map(|r| Reference::parse_normalized(r).ok())
        .map(|r| r.name())
        .collect();
    let tags = refs.iter().filter(|r| !r.contains('@')).count();
    repos.len() <= 1 && tags <= 1
}

fn conflict(id: &Digest, hard: bool, message: &str) -> EngineError {
    let how = if hard {
        "cannot be forced"
    } else {
        "must be forced"
    };
    EngineError::Conflict(format!(
        "conflict: unable to delete {} ({how}) - {message}",
        id.short()
    ))
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

//! The containers this agent knows, by id, and the names being taken by creates in progress.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::containers::live::Container;
use crate::error::{EngineError, Result};

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Arc<Container>>,
    /// name -> id of creates that have not finished yet.
    reserved: HashMap<String, String>,
}

/// Every known container; lookups by id, name and id prefix.
#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, c: Arc<Container>) {
        let mut inner = self.lock();
        let name = c.name();
        inner.reserved.remove(&name);
        inner.by_id.insert(c.id.clone(), c);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.lock().by_id.remove(id);
    }

    pub(crate) fn all(&self) -> Vec<Arc<Container>> {
        self.lock().by_id.values().cloned().collect()
    }

    fn name_owner(inner: &Inner, name: &str) -> Option<String> {
        if let Some(id) = inner.reserved.get(name) {
            return Some(id.clone());
        }
        inner
            .by_id
            .values()
            .find(|c| c.live().record.name == name)
            .map(|c| c.id.clone())
    }

    /// Take `name` for the container `id` being created, or say who has it.
    pub(crate) fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let mut inner = self.lock();
        if let Some(owner) = Self::name_owner(&inner, name) {
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \
                 \"{owner}\". You have to remove (or rename) that container to be able to reuse \
                 that name."
            )));
        }
        inner.reserved.insert(name.to_string(), id.to_string());
        Ok(())
    }

    /// Give back a name reserved by a create that failed.
    pub(crate) fn release_name(&self, name: &str) {
        self.lock().reserved.remove(name);
    }

    /// By full id, then name (with or without `/`), then unique id prefix.
    pub(crate) fn find(&self, key: &str) -> Result<Arc<Container>> {
        let inner = self.lock();
        if let Some(c) = inner.by_id.get(key) {
            return Ok(c.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(c) = inner.by_id.values().find(|c| c.live().record.name == name) {
            return Ok(c.clone());
        }
        if !key.is_empty() && !key.starts_with('/') {
            let mut matches = inner.by_id.values().filter(|c| c.id.starts_with(key));
            if let Some(first) = matches.next() {
                if matches.next().is_some() {
                    return Err(EngineError::InvalidArgument(format!(
                        "multiple IDs found with provided prefix: {key}"
                    )));
                }
                return Ok(first.clone());
            }
        }
        Err(EngineError::NoSuchContainer(key.to_string()))
    }
}

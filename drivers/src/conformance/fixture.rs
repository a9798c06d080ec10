//! A fresh driver in a fresh directory for one test case.
//!
//! Layout of a fixture's directory: `home/` (the driver's home) and `canary/` (a directory next
//! to it holding one known file: hostile archives must leave it alone). Dropping the fixture
//! unmounts everything the driver mounted (`cleanup`) and deletes the directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::driver::GraphDriver;
use crate::layer_id::LayerId;
use crate::registry::{open_driver, DriverOptions};

/// Name and content of the file in the canary directory.
pub const CANARY_FILE: &str = "canary.txt";
pub const CANARY_CONTENT: &[u8] = b"the canary is alive\n";

/// One driver under test with its own home.
pub struct DriverFixture {
    driver: Arc<dyn GraphDriver>,
    name: String,
    storage_opt: BTreeMap<String, String>,
    root: PathBuf,
    home: PathBuf,
    canary: PathBuf,
}

impl DriverFixture {
    /// A fresh `name` driver in a new directory under the system temp dir.
    pub fn new(name: &str) -> DriverFixture {
        DriverFixture::in_dir(name, &std::env::temp_dir(), BTreeMap::new())
    }

    /// A fresh `name` driver in a new directory under `base` (which must be on a filesystem the
    /// driver supports, e.g. btrfs for btrfs), with `storage_opt` passed to the driver.
    pub fn in_dir(name: &str, base: &Path, storage_opt: BTreeMap<String, String>) -> DriverFixture {
        let root = tempfile::Builder::new()
            .prefix(&format!("strata-conformance-{name}-"))
            .tempdir_in(base)
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create a fixture directory under {}: {e}",
                    base.display()
                )
            })
            .keep();
        let home = root.join("home");
        let canary = root.join("canary");
        std::fs::create_dir_all(&canary).expect("creating the canary directory");
        std::fs::write(canary.join(CANARY_FILE), CANARY_CONTENT).expect("writing the canary file");
        let opts = DriverOptions {
            home: home.clone(),
            storage_opt: storage_opt.clone(),
        };
        let driver = match open_driver(name, &opts) {
            Ok(d) => d,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&root);
                panic!("cannot open the {name} driver in {}: {e} (the conformance suite needs it to work here)", home.display());
            }
        };
        DriverFixture {
            driver,
            name: name.to_string(),
            storage_opt,
            root,
            home,
            canary,
        }
    }

    /// A fixture for a driver that needs a special filesystem: its base directory comes from
    /// the environment variable `var` (e.g. `STRATA_TEST_BTRFS_ROOT`). Panics, saying what is
    /// missing, when the variable is not set.
    pub fn from_env(name: &str, var: &str, storage_opt: BTreeMap<String, String>) -> DriverFixture {
        let base = std::env::var_os(var).unwrap_or_else(|| {
            panic!("the {name} conformance suite needs {var} set to a directory where the {name} driver can work")
        });
        DriverFixture::in_dir(name, Path::new(&base), storage_opt)
    }

    /// The driver under test.
    pub fn driver(&self) -> &Arc<dyn GraphDriver> {
        &self.driver
    }

    /// A second driver instance on the same home, as a restarted agent opens it.
    pub fn reopen(&self) -> Arc<dyn GraphDriver> {
        let opts = DriverOptions {
            home: self.home.clone(),
            storage_opt: self.storage_opt.clone(),
        };
        open_driver(&self.name, &opts)
            .unwrap_or_else(|e| panic!("reopening the {} driver: {e}", self.name))
    }

    /// The driver's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The driver's home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The fixture's directory (home and canary are in it).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The canary directory next to the home.
    pub fn canary(&self) -> &Path {
        &self.canary
    }

    /// A layer id (panics on an invalid one: test code).
    pub fn id(&self, s: &str) -> LayerId {
        LayerId::new(s).expect("valid test layer id")
    }
}

impl DriverFixture {
    /// Remove every layer the driver still has, deepest first, so drivers whose layers are not
    /// plain directories (btrfs subvolumes, some read-only; zfs datasets) leave nothing behind.
    fn remove_all_layers(&self) {
        let mut left = match self.driver.layers() {
            Ok(ids) => ids,
            Err(e) => return eprintln!("fixture: listing the layers of {} failed: {e}", self.name),
        };
        let depth = |id: &LayerId| {
            let mut n = 0usize;
            let mut cur = id.clone();
            while let Ok(Some(p)) = self.driver.parent(&cur) {
                n += 1;
                cur = p;
                if n > 10_000 {
                    break;
                }
            }
            n
        };
        left.sort_by_cached_key(|id| std::cmp::Reverse(depth(id)));
        while !left.is_empty() {
            let before = left.len();
            left.retain(|id| self.driver.remove(id).is_err());
            if left.len() == before {
                return eprintln!(
                    "fixture: {} layers of {} cannot be removed: {left:?}",
                    left.len(),
                    self.name
                );
            }
        }
    }
}

impl Drop for DriverFixture {
    fn drop(&mut self) {
        if let Err(e) = self.driver.cleanup() {
            eprintln!("fixture cleanup of {} failed: {e}", self.name);
        }
        self.remove_all_layers();
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!(
                "removing fixture directory {} failed: {e}",
                self.root.display()
            );
        }
    }
}

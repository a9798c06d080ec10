//! Shared helpers of the image-store integration tests: an engine on a temporary root with a
//! chosen driver, archive loading from a file, and views of what is on disk and in the database.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use strata_agent::model::LoadReport;
use strata_agent::{Engine, EngineConfig, EngineError};

/// The drivers every image test runs against.
pub const DRIVERS: &[&str] = &["vfs", "overlay2"];

/// An engine on a private temporary root.
pub struct TestEngine {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
    pub driver: &'static str,
}

impl TestEngine {
    /// Start an engine using `driver`; fails (with what is missing) when it cannot.
    pub async fn start(driver: &'static str) -> TestEngine {
        let dir = tempfile::Builder::new()
            .prefix("strata-images-")
            .tempdir()
            .expect("temp dir");
        let engine = open_engine(dir.path(), driver).await;
        TestEngine {
            engine,
            dir,
            driver,
        }
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A path for an archive file, outside the data root.
    pub fn archive_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `docker load < path`.
    pub async fn load(&self, path: &Path) -> Result<LoadReport, EngineError> {
        load_file(&self.engine, path).await
    }

    /// Stop this engine and open a new one on the same roots (what a restart does).
    pub async fn restart(&mut self) {
        self.engine.shutdown().await.expect("engine shutdown");
        self.engine = open_engine(self.dir.path(), self.driver).await;
    }

    /// Everything the driver keeps on disk (layer dirs and their bookkeeping), as relative paths.
    pub fn driver_entries(&self) -> BTreeSet<String> {
        driver_entries(&self.data_root(), self.driver)
    }

    /// The driver layer ids present on disk.
    pub fn driver_layers(&self) -> BTreeSet<String> {
        driver_layer_ids(&self.data_root(), self.driver)
    }

    /// Rows of the `layers` table: (chain_id, cache_id).
    pub fn db_layers(&self) -> BTreeSet<(String, String)> {
        self.query_pairs("SELECT chain_id, cache_id FROM layers")
    }

    /// Rows of the `refs` table: (name, image_id).
    pub fn db_refs(&self) -> BTreeSet<(String, String)> {
        self.query_pairs("SELECT name, image_id FROM refs")
    }

    /// Image ids in the `images` table.
    pub fn db_images(&self) -> BTreeSet<String> {
        self.query_pairs("SELECT id, '' FROM images")
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    fn query_pairs(&self, sql: &str) -> BTreeSet<(String, String)> {
        let conn = rusqlite::Connection::open(self.data_root().join("strata.db")).expect("open db");
        let mut stmt = conn.prepare(sql).expect("prepare");
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .expect("query")
            .collect::<Result<BTreeSet<_>, _>>()
            .expect("rows");
        rows
    }

    /// Files left in `<data-root>/tmp`.
    pub fn tmp_entries(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.data_root().join("tmp"))
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Run a statement on the metadata database directly (to simulate other components).
    pub fn db_execute(&self, sql: &str) {
        let conn = rusqlite::Connection::open(self.data_root().join("strata.db")).expect("open db");
        conn.execute_batch(sql).expect("execute");
    }
}

/// Run each named `async fn NAME(driver: &'static str)` once per driver, as tests
/// `NAME::vfs` and `NAME::overlay2`.
macro_rules! for_each_driver {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn vfs() {
                    super::$name("vfs").await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn overlay2() {
                    super::$name("overlay2").await
                }
            }
        )*
    };
}

/// Open an engine on `root/data` and `root/exec` with `driver`; panics with what is missing.
pub async fn open_engine(root: &Path, driver: &'static str) -> Engine {
    let mut config = EngineConfig::with_roots(root.join("data"), root.join("exec"));
    config.storage_driver = Some(driver.to_string());
    match Engine::open(config).await {
        Ok(engine) => engine,
        Err(err) => panic!(
            "cannot start an engine with the {driver} storage driver on {}: {err} \
             (overlay2 needs a kernel with overlayfs and root; vfs needs nothing)",
            root.display()
        ),
    }
}

/// Stream a file into `Engine::load_images`.
pub async fn load_file(engine: &Engine, path: &Path) -> Result<LoadReport, EngineError> {
    let file = tokio::fs::File::open(path).await.expect("open archive");
    engine.load_images(Box::pin(file)).await
}

/// Relative paths of the entries a driver keeps (two levels: `dir/<id>`, `meta/<id>.json`,
/// `<id>`, `l/<short>`).
pub fn driver_entries(data_root: &Path, driver: &str) -> BTreeSet<String> {
    let home = data_root.join(driver);
    let mut out = BTreeSet::new();
    let Ok(top) = std::fs::read_dir(&home) else {
        return out;
    };
    for entry in top.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        out.insert(name.clone());
        let is_bookkeeping_dir = matches!(name.as_str(), "dir" | "meta" | "l");
        if is_bookkeeping_dir {
            if let Ok(inner) = std::fs::read_dir(entry.path()) {
                for e in inner.flatten() {
                    out.insert(format!("{name}/{}", e.file_name().to_string_lossy()));
                }
            }
        }
    }
    out
}

/// Layer ids the driver has on disk.
pub fn driver_layer_ids(data_root: &Path, driver: &str) -> BTreeSet<String> {
    let dir = match driver {
        "vfs" => data_root.join("vfs").join("dir"),
        _ => data_root.join(driver),
    };
    std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect()
        })
        .unwrap_or_default()
}

/// Find `rel` in an image's tree from its `GraphDriver.Data`: vfs `Dir` holds the whole tree;
/// overlay2 stacks `UpperDir` over `LowerDir` (a 0/0 character device is a whiteout).
pub fn image_file(
    graph_data: &std::collections::BTreeMap<String, String>,
    rel: &str,
) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = graph_data.get("Dir") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(upper) = graph_data.get("UpperDir") {
        dirs.push(PathBuf::from(upper));
    }
    if let Some(lower) = graph_data.get("LowerDir") {
        dirs.extend(lower.split(':').map(PathBuf::from));
    }
    for dir in dirs {
        let candidate = dir.join(rel);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_char_device() => return None,
            Ok(_) => return Some(candidate),
            Err(_) => continue,
        }
    }
    None
}

/// The `Loaded image...` lines of a report.
pub fn messages(report: &LoadReport) -> Vec<String> {
    report.messages.clone()
}

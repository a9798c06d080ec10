//! The test image's content: layer tars of random bytes, built in memory.
//!
//! Random bytes are drawn once per layer size (a pool a little larger than one file); each file
//! is a window into that pool at an offset derived from its layer and file number, so every layer
//! holds different bytes while building a layer costs only a copy. Layer `i` holds the directory
//! `layer-NNN/` with `files_per_layer` files `file-NNNN.bin` that together weigh `layer_size`
//! bytes; no layer touches another's paths, so the bottom layer's files stay visible at the top.

use rand::RngCore;

use crate::error::BenchError;

/// Extra random bytes beyond one file, so windows at different offsets differ.
const POOL_SLACK: usize = 64 * 1024;

/// A fixed modification time for every entry (2023-11-14), so tars are reproducible.
const MTIME: u64 = 1_700_000_000;

/// The generator of one image shape's layer tars.
pub struct Payload {
    pool: Vec<u8>,
    layer_size: u64,
    files: usize,
}

impl Payload {
    /// Random content for layers of `layer_size` bytes split into `files_per_layer` files (fewer
    /// when the layer is smaller than that many bytes).
    pub fn new(layer_size: u64, files_per_layer: usize) -> Payload {
        let files = (files_per_layer as u64).clamp(1, layer_size.max(1)) as usize;
        let largest = layer_size.div_ceil(files as u64) as usize;
        let mut pool = vec![0u8; largest + POOL_SLACK];
        rand::thread_rng().fill_bytes(&mut pool);
        Payload {
            pool,
            layer_size,
            files,
        }
    }

    /// Bytes of file content in one layer.
    pub fn layer_size(&self) -> u64 {
        self.layer_size
    }

    /// Number of files in one layer.
    pub fn files_per_layer(&self) -> usize {
        self.files
    }

    /// The path (inside the image) of the file the first-write figure modifies: the first file of
    /// the bottom layer.
    pub fn bottom_file() -> String {
        file_path(0, 0)
    }

    /// Size of file `file` of a layer: an even split, the remainder on the last file.
    fn file_size(&self, file: usize) -> u64 {
        let base = self.layer_size / self.files as u64;
        if file + 1 == self.files {
            self.layer_size - base * (self.files as u64 - 1)
        } else {
            base
        }
    }

    /// The uncompressed OCI layer tar of layer `index` (0 = bottom).
    pub fn layer_tar(&self, index: usize) -> Result<Vec<u8>, BenchError> {
        let ctx = |e| BenchError::io(format!("building the tar of test layer {index}"), e);
        let capacity = self.layer_size as usize + (self.files + 1) * 1024 + 2048;
        let mut builder = tar::Builder::new(Vec::with_capacity(capacity));
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_size(0);
        dir.set_mtime(MTIME);
        dir.set_uid(0);
        dir.set_gid(0);
        builder
            .append_data(&mut dir, format!("layer-{index:03}/"), std::io::empty())
            .map_err(ctx)?;
        for file in 0..self.files {
            let size = self.file_size(file) as usize;
            let offset = (index * 7919 + file * 104_729) % POOL_SLACK;
            let content = &self.pool[offset..offset + size];
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(size as u64);
            header.set_mtime(MTIME);
            header.set_uid(0);
            header.set_gid(0);
            builder
                .append_data(&mut header, file_path(index, file), content)
                .map_err(ctx)?;
        }
        builder.into_inner().map_err(ctx)
    }
}

/// `layer-NNN/file-NNNN.bin`.
fn file_path(layer: usize, file: usize) -> String {
    format!("layer-{layer:03}/file-{file:04}.bin")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.push((path, data));
        }
        out
    }

    #[test]
    fn a_layer_weighs_its_size_in_its_own_directory() {
        let p = Payload::new(100_003, 4);
        let e = entries(&p.layer_tar(7).unwrap());
        assert_eq!(e[0].0, "layer-007/");
        assert_eq!(e.len(), 5);
        let total: usize = e.iter().map(|(_, d)| d.len()).sum();
        assert_eq!(total, 100_003);
        assert!(e[1..]
            .iter()
            .all(|(path, _)| path.starts_with("layer-007/file-")));
    }

    #[test]
    fn layers_hold_different_bytes() {
        let p = Payload::new(1 << 16, 2);
        let a = entries(&p.layer_tar(0).unwrap());
        let b = entries(&p.layer_tar(1).unwrap());
        assert_ne!(a[1].1, b[1].1);
        assert_eq!(a[1].0, Payload::bottom_file());
    }

    #[test]
    fn tiny_layers_have_no_empty_files() {
        let p = Payload::new(3, 8);
        assert_eq!(p.files_per_layer(), 3);
        let e = entries(&p.layer_tar(0).unwrap());
        assert!(e[1..].iter().all(|(_, d)| d.len() == 1));
    }
}

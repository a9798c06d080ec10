//! The figures `strata bench` measures: their ids (JSON keys and plot file names), titles and
//! units.

use serde::Serialize;

/// One measured quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    Apply,
    Instantiate,
    FirstWrite,
    Diff,
    Teardown,
    DiskAdded,
    InstancesUsage,
}

/// Which direction is good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Lower,
    Higher,
}

/// A figure's description as the report lists it.
#[derive(Clone, Debug, Serialize)]
pub struct FigureInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub description: &'static str,
}

impl Figure {
    /// Every figure, in the order of the benchmark's steps.
    pub const ALL: [Figure; 7] = [
        Figure::Apply,
        Figure::Instantiate,
        Figure::FirstWrite,
        Figure::Diff,
        Figure::Teardown,
        Figure::DiskAdded,
        Figure::InstancesUsage,
    ];

    /// The JSON key and plot file stem.
    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// Unit of the figure's numbers.
    pub fn unit(self) -> &'static str {
        self.info().unit
    }

    /// Whether numbers are byte counts (printed as KiB/MiB).
    pub fn is_bytes(self) -> bool {
        self.unit() == "bytes"
    }

    /// Everything the report says about the figure.
    pub fn info(self) -> FigureInfo {
        let (id, title, unit, better, description) = match self {
            Figure::Apply => (
                "apply",
                "apply: image layers into the driver",
                "MiB/s",
                Better::Higher,
                "Bytes of file content of the whole image divided by the time to create and \
                 apply_diff every layer, bottom-up, from tars held in memory.",
            ),
            Figure::Instantiate => (
                "instantiate",
                "instantiate: container layer on the image, available at a path",
                "ms",
                Better::Lower,
                "create_rw of a container layer on the image's top layer, then get (mount) it.",
            ),
            Figure::FirstWrite => (
                "first_write",
                "first write: change one byte of a bottom-layer file",
                "ms",
                Better::Lower,
                "Open a file of the bottom layer through the container layer's path for \
                 writing, write one byte at offset 0, close (the copy-up cost).",
            ),
            Figure::Diff => (
                "diff",
                "diff: the container layer's changes as a tar",
                "ms",
                Better::Lower,
                "diff of the container layer (after the first write) into a byte-counting sink.",
            ),
            Figure::Teardown => (
                "teardown",
                "teardown: unmount and remove the container layer",
                "ms",
                Better::Lower,
                "put then remove of the container layer.",
            ),
            Figure::DiskAdded => (
                "disk_added",
                "disk added by N instances (statvfs)",
                "bytes",
                Better::Lower,
                "Used bytes of the backing filesystem (statvfs, after syncfs) after creating and \
                 mounting N container layers on one image, minus before. Other writers on the \
                 same filesystem show up here too.",
            ),
            Figure::InstancesUsage => (
                "instances_usage",
                "disk used by N instances (driver usage)",
                "bytes",
                Better::Lower,
                "Sum of the driver's usage() of the N container layers (what each layer alone \
                 holds).",
            ),
        };
        FigureInfo {
            id,
            title,
            unit,
            better,
            description,
        }
    }
}

//! `strata bench`: what each graph driver costs to instantiate layers.
//! (Skeleton: the benchmark issue fills this in.)

/// Flags of `strata bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Comma-separated drivers to measure.
    #[arg(long, default_value = "vfs,overlay2")]
    pub drivers: String,
}

pub fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("strata bench is not implemented yet")
}

//! `docker info` `DriverStatus` of the devicemapper driver, with Docker's keys.

use super::cli::Dmsetup;
use super::options::DmOptions;
use super::pool::Pool;

/// Sizes as Docker printed them (`units.HumanSize`: decimal units, 4 significant digits).
pub fn human_size(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let text = format!("{value:.4}");
    // Four significant digits without trailing zeros.
    let digits_before = text.split('.').next().map_or(1, str::len);
    let keep = 4usize.saturating_sub(digits_before);
    let mut short = format!("{value:.keep$}");
    if short.contains('.') {
        short = short
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string();
    }
    format!("{short}{}", UNITS[unit])
}

/// The status pairs, in Docker's order.
pub fn status(dm: &Dmsetup, pool: &Pool, options: &DmOptions) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: String| out.push((k.to_string(), v));
    push("Pool Name", pool.name().to_string());
    push("Pool Blocksize", human_size(pool.block_size()));
    push("Base Device Size", human_size(options.base_size));
    push("Backing Filesystem", options.fs.name().to_string());
    let (data_file, metadata_file) = match pool.loop_paths() {
        Some((data, metadata)) => (
            pool.loop_device_of(data).unwrap_or_default(),
            pool.loop_device_of(metadata).unwrap_or_default(),
        ),
        None => (String::new(), String::new()),
    };
    push("Udev Sync Supported", "false".into());
    push("Data file", data_file);
    push("Metadata file", metadata_file);
    match pool.usage() {
        Ok(u) => {
            let min_free = u.data_total / 100 * u64::from(options.min_free_percent);
            push("Data Space Used", human_size(u.data_used));
            push("Data Space Total", human_size(u.data_total));
            push(
                "Data Space Available",
                human_size(u.data_total.saturating_sub(u.data_used)),
            );
            push("Metadata Space Used", human_size(u.metadata_used));
            push("Metadata Space Total", human_size(u.metadata_total));
            push(
                "Metadata Space Available",
                human_size(u.metadata_total.saturating_sub(u.metadata_used)),
            );
            push("Thin Pool Minimum Free Space", human_size(min_free));
        }
        Err(e) => push("Pool Status", format!("unavailable: {e}")),
    }
    push("Deferred Removal Enabled", "false".into());
    push("Deferred Deletion Enabled", "false".into());
    if let Some((data, metadata)) = pool.loop_paths() {
        push("Data loop file", data.display().to_string());
        push("Metadata loop file", metadata.display().to_string());
    }
    let library = dm
        .version()
        .ok()
        .and_then(|v| {
            v.lines()
                .find(|l| l.starts_with("Library version:"))
                .map(|l| l.trim_start_matches("Library version:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    push("Library Version", library);
    out
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_as_docker_printed_them() {
        assert_eq!(human_size(65536), "65.54kB");
        assert_eq!(human_size(10 << 30), "10.74GB");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
    }
}

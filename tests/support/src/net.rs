//! Reading network facts the tests check.

/// The interface names in a `/proc/net/dev` text (as `cat /proc/net/dev` prints it inside a
/// container), sorted.
pub fn interfaces(proc_net_dev: &str) -> Vec<String> {
    let mut names: Vec<String> = proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect();
    names.sort();
    names
}

//! `--ip-masq`: one nftables table of the agent's own (`ip strata_<bridge>`, so two agents never
//! touch each other's) with a postrouting chain masquerading each bridge subnet's traffic that
//! leaves through another interface. Written with the `nft` CLI as one atomic script; removed at
//! clean shutdown and rebuilt at start.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::network::error::NetworkError;
use crate::network::subnet::Ipv4Cidr;

/// The agent's table name for default bridge `bridge` (`strata0` -> `strata_strata0`).
pub(crate) fn table_name(bridge: &str) -> String {
    let safe: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("strata_{safe}")
}

/// The nft script that replaces table `table` with masquerade rules for `subnets`
/// (bridge name, gateway/prefix).
pub(crate) fn script(table: &str, subnets: &[(String, Ipv4Cidr)]) -> String {
    let mut out = format!(
        "table ip {table} {{}}\ndelete table ip {table}\ntable ip {table} {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n"
    );
    for (bridge, cidr) in subnets {
        out.push_str(&format!(
            "    ip saddr {} oifname != \"{bridge}\" masquerade\n",
            cidr.subnet_string()
        ));
    }
    out.push_str("  }\n}\n");
    out
}

fn run_nft(args: &[&str], stdin: Option<&str>) -> Result<(), NetworkError> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetworkError::io("running nft (Debian package nftables)", e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| NetworkError::io("writing the nft script", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::io("waiting for nft", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetworkError::InvalidConfig(format!(
            "nft {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Replace table `table` with masquerade rules for `subnets`, in one nft transaction.
pub(crate) fn apply(table: &str, subnets: &[(String, Ipv4Cidr)]) -> Result<(), NetworkError> {
    run_nft(&["-f", "-"], Some(&script(table, subnets)))?;
    tracing::info!(table, subnets = subnets.len(), "masquerade rules written");
    Ok(())
}

/// Delete table `table`; a missing one is fine.
pub(crate) fn remove(table: &str) -> Result<(), NetworkError> {
    let script = format!("table ip {table} {{}}\ndelete table ip {table}\n");
    run_nft(&["-f", "-"], Some(&script))?;
    tracing::info!(table, "masquerade rules removed");
    Ok(())
}

/// Delete table `table` if it exists (checked first, so an agent without the table, or
/// without nft, changes nothing).
pub(crate) fn remove_if_present(table: &str) -> Result<bool, NetworkError> {
    let listed = Command::new("nft")
        .args(["list", "table", "ip", table])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| NetworkError::io("running nft", e))?;
    if !listed.success() {
        return Ok(false);
    }
    remove(table)?;
    Ok(true)
}

/// Whether the kernel forwards IPv4 (`/proc/sys/net/ipv4/ip_forward`).
pub(crate) fn ip_forward_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .map(|t| t.trim() == "1")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_replaces_the_table_atomically() {
        let cidr = Ipv4Cidr::parse("10.9.0.1/24").unwrap();
        let text = script(&table_name("st-br.1"), &[("br-abc".into(), cidr)]);
        assert!(text.starts_with("table ip strata_st_br_1 {}\ndelete table ip strata_st_br_1\n"));
        assert!(text.contains("ip saddr 10.9.0.0/24 oifname != \"br-abc\" masquerade"));
    }
}

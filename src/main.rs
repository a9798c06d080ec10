//! `strata`: the Strata container host agent.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "strata", version, about = "A storage-centred container host agent speaking the Docker Engine API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the agent (flag names as dockerd's).
    Serve(ServeArgs),
    /// Measure layer-instantiation cost across graph drivers.
    Bench(strata_bench::BenchArgs),
    /// Internal: the per-container shim (started by the agent, not by hand).
    #[command(hide = true)]
    Shim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Root of persistent state.
    #[arg(long, default_value = "/var/lib/strata")]
    data_root: PathBuf,
    /// Root of runtime state.
    #[arg(long, default_value = "/run/strata")]
    exec_root: PathBuf,
    /// Address to listen on (repeatable): unix:///path or tcp://host:port.
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// Graph driver: vfs, overlay2, btrfs, zfs, devicemapper (default: overlay2 where it works).
    #[arg(short = 's', long)]
    storage_driver: Option<String>,
    /// Driver option KEY=VALUE (repeatable).
    #[arg(long = "storage-opt")]
    storage_opts: Vec<String>,
    /// OCI runtime: runc, crun, youki, or a path.
    #[arg(long, default_value = "runc")]
    default_runtime: String,
    /// Binary bind-mounted as PID 1 for --init.
    #[arg(long, default_value = "/usr/bin/tini-static")]
    init_path: PathBuf,
    /// Address (host:port) of the plain-TCP listener serving only Prometheus `/metrics`;
    /// empty disables it.
    #[arg(long, default_value = "127.0.0.1:9323")]
    metrics_addr: String,
    /// Parent cgroup of the containers' cgroups (default: `/strata-<hash of the data root>`,
    /// one per agent instance).
    #[arg(long = "cgroup-parent")]
    cgroup_parent: Option<String>,
    /// Name of the bridge device containers attach to (two agents on one host need two names).
    #[arg(long, default_value = "strata0")]
    bridge: String,
    /// The bridge's address and subnet (A.B.C.D/N); default: 172.28.0.1/16, or another private
    /// /16 when a host route covers it.
    #[arg(long)]
    bip: Option<String>,
    /// Masquerade outbound traffic of the bridges' subnets (an nftables table of this agent's
    /// own, removed at shutdown). Off by default; `ip_forward` is never changed, only reported.
    #[arg(long = "ip-masq", action = clap::ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true")]
    ip_masq: bool,
    /// Registry (HOST[:PORT]) to speak plain HTTP to (repeatable); localhost and 127.0.0.0/8
    /// always are, as dockerd.
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// The most one layer may expand to when loaded, pulled, imported or committed: the sum of
    /// its regular files' sizes (sparse files at their full size), e.g. 10G; beyond it the
    /// layer is refused. Default 100 GiB.
    #[arg(long = "max-layer-size", value_parser = parse_size_flag,
          default_value_t = strata_agent::config::DEFAULT_MAX_LAYER_SIZE)]
    max_layer_size: u64,
    /// Seconds a client may take to send a request head, counted from when its connection is
    /// ready for one (new, or idle after a response); the connection is closed after it. Also
    /// the idle timeout of keep-alive connections; never applies to a streaming response.
    #[arg(long = "http-header-timeout", value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = strata_api::server::DEFAULT_HEADER_TIMEOUT.as_secs())]
    http_header_timeout: u64,
    /// Most connections each listener (-H, --metrics-addr) serves at once; more wait to be
    /// accepted until one closes.
    #[arg(long = "max-connections", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = strata_api::server::DEFAULT_MAX_CONNECTIONS as u64)]
    max_connections: u64,
    /// Log filter (tracing syntax), e.g. info or strata_agent=debug.
    #[arg(long, default_value = "info", env = "STRATA_LOG")]
    log_level: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Shim { args } => std::process::exit(strata_agent::runtime::shim_main(args)),
        Command::Bench(args) => strata_bench::run(args),
        Command::Serve(args) => serve(args),
    }
}

/// A size flag in Docker's binary units (`512M`, `10G`, `1.5g`, bytes), above zero.
fn parse_size_flag(text: &str) -> Result<u64, String> {
    strata_drivers::units::parse_user_size(text)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("{text:?} is not a size above zero (e.g. 10G, 512M, bytes)"))
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log_level))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut storage_opt = BTreeMap::new();
    for opt in &args.storage_opts {
        let Some((k, v)) = opt.split_once('=') else {
            bail!("--storage-opt {opt:?}: expected KEY=VALUE");
        };
        storage_opt.insert(k.trim().to_string(), v.trim().to_string());
    }
    let mut config = strata_agent::EngineConfig::with_roots(&args.data_root, &args.exec_root);
    config.storage_driver = args.storage_driver.clone();
    config.storage_opt = storage_opt;
    config.default_runtime = args.default_runtime.clone();
    config.init_binary = args.init_path.clone();
    config.network = strata_agent::network::NetworkConfig {
        bridge: args.bridge.clone(),
        bip: args.bip.clone(),
        ip_masq: args.ip_masq,
    };
    config.insecure_registries = args.insecure_registries.clone();
    config.cgroup_parent = match &args.cgroup_parent {
        Some(parent) => Some(
            strata_agent::cgroups::parent::validate(parent)
                .with_context(|| format!("--cgroup-parent {parent:?}"))?,
        ),
        None => None,
    };
    config.max_layer_size = args.max_layer_size;
    config.shim_binary = std::env::current_exe().context("locating the strata binary")?;
    let hosts = if args.hosts.is_empty() {
        vec![format!("unix://{}", args.exec_root.join("strata.sock").display())]
    } else {
        args.hosts.clone()
    };

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        // Watch SIGTERM and SIGINT before anything else: a signal that arrives while the engine
        // is still opening (repair can take a while on zfs) must end in a clean shutdown, not in
        // the default action that kills the process mid-way.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("watching SIGTERM")?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .context("watching SIGINT")?;
        let engine = strata_agent::Engine::open(config).await.context("opening the engine")?;
        tracing::info!(driver = engine.driver_name(), ?hosts, "strata serving");
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        };
        let limits = strata_api::ConnLimits {
            header_timeout: std::time::Duration::from_secs(args.http_header_timeout),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        };
        let metrics_listener = match args.metrics_addr.trim() {
            "" => None,
            addr => Some(
                strata_api::metrics::spawn_listener(engine.clone(), addr, limits)
                    .await
                    .context("starting the metrics listener (--metrics-addr)")?,
            ),
        };
        let served = strata_api::serve(engine.clone(), hosts, limits, shutdown).await;
        if let Some(listener) = metrics_listener {
            listener.abort();
        }
        served.context("serving the API")?;
        engine.shutdown().await.context("shutting down the engine")?;
        tracing::info!("strata stopped");
        Ok(())
    })
}

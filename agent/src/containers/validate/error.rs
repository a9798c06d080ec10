//! Why a create request is refused: one variant per rule, each shown with dockerd 20.10's
//! message where dockerd has one (checked against dockerd 20.10.24's answers). All are 400s.

/// A create request Strata refuses before making anything.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValidationError {
    #[error("Minimum memory limit allowed is 6MB")]
    MemoryTooSmall,
    #[error("Minimum memoryswap limit should be larger than memory limit, see usage")]
    SwapBelowMemory,
    #[error("You should always set the Memory limit when using Memoryswap limit, see usage")]
    SwapWithoutMemory,
    #[error("Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")]
    NanoCpusRange { ncpu: i64 },
    #[error("Conflicting options: Nano CPUs and CPU Period cannot both be set")]
    NanoCpusAndPeriod,
    #[error("Conflicting options: Nano CPUs and CPU Quota cannot both be set")]
    NanoCpusAndQuota,
    #[error(
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
    )]
    CpuPeriodRange,
    #[error("CPU cfs quota can not be less than 1ms (i.e. 1000)")]
    CpuQuotaTooSmall,
    /// dockerd 20.10 accepts these (it clamps them when it makes the container and shows the
    /// raw value in inspect); the kernel's largest is 262144, so Strata refuses them.
    #[error("invalid CPU shares {0}: it must be from 0 (the default) to 262144")]
    CpuSharesRange(i64),
    #[error("Invalid value {value} for cpuset cpus: invalid format: {value}")]
    CpusetFormat { value: String },
    #[error("Requested CPUs are not available - requested {requested}, available: {available}")]
    CpusetUnavailable {
        requested: String,
        available: String,
    },
    #[error("Range of blkio weight is from 10 to 1000")]
    BlkioWeightRange,
    #[error("SHM size can not be less than 0")]
    ShmSizeNegative,
    #[error("Invalid value {0}, range for oom score adj is [-1000, 1000]")]
    OomScoreAdjRange(i64),
    /// go-units' wording (the CLI's own `--ulimit` parser).
    #[error("invalid ulimit type: {0}")]
    UlimitName(String),
    /// dockerd 20.10 accepts these at create and the start fails; -1 (unlimited) is allowed.
    #[error("invalid ulimit {name}: {value} is negative (-1 means unlimited)")]
    UlimitNegative { name: String, value: i64 },
    /// go-units' wording.
    #[error("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")]
    UlimitSoftAboveHard { soft: i64, hard: i64 },
    /// dockerd's answer for a driver it has neither built in nor as a plugin.
    #[error("error looking up logging plugin {0}: plugin \"{0}\" not found")]
    UnknownLogDriver(String),
    /// A driver dockerd has but Strata does not (Strata writes json-file logs only).
    #[error("log driver {0} is not supported: Strata writes json-file logs only")]
    UnsupportedLogDriver(String),
    #[error("unknown log opt '{0}' for json-file log driver")]
    UnknownLogOpt(String),
    /// dockerd's wording for a `no-new-privileges` value that is not a boolean.
    #[error("invalid --security-opt 2: {0:?}")]
    SecurityOptValue(String),
    #[error(
        "invalid --security-opt {0:?}: AppArmor is enabled on this host and Strata does not \
         apply AppArmor profiles"
    )]
    AppArmorUnsupported(String),
    #[error("maximum retry count cannot be negative")]
    NegativeRetryCount,
    #[error("invalid restart policy '{0}'")]
    RestartPolicy(String),
    #[error("can't create 'AutoRemove' container with restart policy")]
    AutoRemoveWithRestart,
}

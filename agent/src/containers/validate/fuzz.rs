//! Property tests (fuzzing) of every engine-free check of a create request ([`super::host_spec`]:
//! `-v` binds, `--mount`, `--tmpfs`, `--security-opt`, ports, resources and cpusets, ulimits,
//! log options, restart policies) and of the stop-signal and timestamp formats, with arbitrary
//! and format-shaped values. Property: no panic, and a refusal is a 400
//! (`ErrorKind::InvalidArgument`). Run longer with
//! `PROPTEST_CASES=100000 cargo test -p strata-agent validate::fuzz`.

use proptest::prelude::*;

use super::{host_spec, resources, HostFacts, HostResources};
use crate::containers::{signal, time};
use crate::error::ErrorKind;
use crate::model::{
    ContainerSpec, HostSpec, LogConfig, MountRequest, PortBinding, Resources, RestartPolicy, Ulimit,
};

/// Strings shaped like the formats, and arbitrary ones.
fn spec_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z/:.,=-]{0,20}",
        "(/[a-z.]{0,4}){0,3}:(/[a-z.]{0,4}){0,3}(:[a-zZ,]{0,8})?(:[a-z]{0,3})?",
        "[a-z]{0,8}:(/[a-z]{0,3}){0,2}",
        "(SIG)?[A-Za-z]{0,6}[0-9+-]{0,3}",
        "-?[0-9]{0,20}",
        "[0-9]{0,3}([-,][0-9]{0,20}){0,3}",
        "(seccomp|label|apparmor|no-new-privileges)[=:]?[a-z/.]{0,12}",
        "[0-9]{0,6}(-[0-9]{0,6})?(/(tcp|udp|TCP|sctp|[a-z]{0,3}))?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{0,14}(Z|[+-][0-9:]{0,5})?",
    ]
}

fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -2i64..2,
        Just(i64::MIN),
        Just(i64::MAX),
        0i64..(1 << 40)
    ]
}

fn mount_request() -> impl Strategy<Value = MountRequest> {
    (
        prop_oneof![
            Just("bind"),
            Just("volume"),
            Just("tmpfs"),
            Just("npipe"),
            Just("")
        ],
        spec_string(),
        spec_string(),
        any::<bool>(),
        any::<bool>(),
        number(),
        number(),
    )
        .prop_map(
            |(kind, source, target, read_only, no_copy, size, mode)| MountRequest {
                kind: kind.to_string(),
                source,
                target,
                read_only,
                no_copy,
                tmpfs_size_bytes: size,
                tmpfs_mode: mode,
            },
        )
}

fn resources() -> impl Strategy<Value = Resources> {
    (
        (number(), number(), number(), number()),
        spec_string(),
        number(),
        any::<u16>(),
        number(),
        number(),
    )
        .prop_map(
            |(
                (memory, memory_swap, nano_cpus, cpu_shares),
                cpuset_cpus,
                pids_limit,
                blkio_weight,
                cpu_quota,
                cpu_period,
            )| Resources {
                memory,
                memory_swap,
                nano_cpus,
                cpu_shares,
                cpuset_cpus,
                pids_limit,
                blkio_weight,
                cpu_quota,
                cpu_period,
            },
        )
}

fn host() -> impl Strategy<Value = HostSpec> {
    let strings = || prop::collection::vec(spec_string(), 0..3);
    let map = || prop::collection::btree_map(spec_string(), spec_string(), 0..3);
    (
        (strings(), map(), prop::collection::vec(mount_request(), 0..3)),
        (strings(), resources()),
        (
            prop::collection::btree_map(
                spec_string(),
                prop::collection::vec((spec_string(), spec_string()), 0..2),
                0..3,
            ),
            any::<bool>(),
        ),
        (number(), number()),
        prop::collection::vec((spec_string(), number(), number()), 0..3),
        (spec_string(), map()),
        (spec_string(), number()),
    )
        .prop_map(
            |(
                (binds, tmpfs, mounts),
                (security_opt, resources),
                (ports, publish_all_ports),
                (shm_size, oom_score_adj),
                ulimits,
                (log_driver, log_options),
                (restart, retries),
            )| HostSpec {
                binds,
                tmpfs,
                mounts,
                security_opt,
                resources,
                port_bindings: ports
                    .into_iter()
                    .map(|(k, list)| {
                        let list = list
                            .into_iter()
                            .map(|(host_ip, host_port)| PortBinding { host_ip, host_port })
                            .collect();
                        (k, list)
                    })
                    .collect(),
                publish_all_ports,
                shm_size,
                oom_score_adj,
                ulimits: ulimits
                    .into_iter()
                    .map(|(name, soft, hard)| Ulimit { name, soft, hard })
                    .collect(),
                log_config: LogConfig {
                    driver: log_driver,
                    options: log_options,
                },
                restart_policy: RestartPolicy {
                    name: restart,
                    maximum_retry_count: retries,
                },
                ..HostSpec::default()
            },
        )
}

fn facts() -> impl Strategy<Value = HostFacts> {
    (any::<bool>(), any::<bool>(), number(), spec_string(), any::<bool>()).prop_map(
        |(blkio_weight, swap_limit, ncpu, cpuset, apparmor)| HostFacts {
            resources: HostResources {
                cgroups: resources::CgroupSupport {
                    blkio_weight,
                    swap_limit,
                },
                ncpu,
                cpuset,
            },
            apparmor,
        },
    )
}

proptest! {
    #[test]
    fn create_checks_never_panic_and_refuse_with_a_400(
        host in host(),
        exposed in prop::collection::vec(spec_string(), 0..3),
        facts in facts(),
    ) {
        let mut spec = ContainerSpec {
            host,
            exposed_ports: exposed,
            ..ContainerSpec::default()
        };
        if let Err(err) = host_spec(&mut spec, &facts) {
            prop_assert!(err.kind() == ErrorKind::InvalidArgument, "not a 400: {err:?}");
        }
    }

    #[test]
    fn stop_signals_and_timestamps(raw in spec_string()) {
        if let Err(err) = signal::parse(&raw) {
            prop_assert!(err.kind() == ErrorKind::InvalidArgument, "not a 400: {err:?}");
        }
        let _ = time::parse(&raw);
        let _ = time::unix_seconds(&raw);
    }
}

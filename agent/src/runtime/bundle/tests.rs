//! Bundle tests: write config.json, parse it back as plain JSON, check what runc will see.

use serde_json::Value;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    rootfs: PathBuf,
    bundle: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nappgrp:x:1001:\naudio:x:29:app\n",
    )
    .unwrap();
    let bundle = dir.path().join("bundle");
    Fixture {
        rootfs,
        bundle,
        _dir: dir,
    }
}

fn base(f: &Fixture) -> BundleSpec {
    BundleSpec {
        id: "c1".into(),
        rootfs: f.rootfs.clone(),
        args: vec!["sh".into(), "-c".into(), "echo hi".into()],
        env: vec!["FOO=bar".into()],
        cwd: "/work".into(),
        hostname: "c1host".into(),
        cgroups_path: "/strata-test/c1".into(),
        ..Default::default()
    }
}

fn written(f: &Fixture, spec: &BundleSpec) -> Value {
    let path = write_bundle(&f.bundle, spec).unwrap();
    assert_eq!(path, f.bundle.join("config.json"));
    let leftovers: Vec<_> = std::fs::read_dir(&f.bundle)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("config.json")],
        "no temporary files remain"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn mount_of<'a>(cfg: &'a Value, dest: &str) -> Option<&'a Value> {
    cfg["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == dest)
}

#[test]
fn process_root_and_namespaces() {
    let f = fixture();
    let cfg = written(&f, &base(&f));
    assert_eq!(cfg["ociVersion"], "1.0.2-dev");
    assert_eq!(cfg["root"]["path"], f.rootfs.to_str().unwrap());
    assert_eq!(cfg["root"]["readonly"], false);
    assert_eq!(cfg["hostname"], "c1host");
    let p = &cfg["process"];
    assert_eq!(strings(&p["args"]), vec!["sh", "-c", "echo hi"]);
    assert_eq!(p["cwd"], "/work");
    assert_eq!(p["terminal"], false);
    assert_eq!(p["noNewPrivileges"], false);
    assert!(p.get("rlimits").is_none(), "no rlimits requested: {p}");
    assert_eq!(
        (p["user"]["uid"].as_u64(), p["user"]["gid"].as_u64()),
        (Some(0), Some(0))
    );
    let env = strings(&p["env"]);
    assert_eq!(
        env[0],
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert!(env.contains(&"HOSTNAME=c1host".to_string()) && env.contains(&"FOO=bar".to_string()));
    let ns: Vec<&str> = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(ns, vec!["pid", "ipc", "uts", "mount", "network"]);
    assert_eq!(cfg["linux"]["cgroupsPath"], "/strata-test/c1");
    assert_eq!(
        cfg["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"],
        "0"
    );
}

#[test]
fn no_new_privileges_reaches_the_process() {
    let f = fixture();
    let spec = BundleSpec {
        no_new_privileges: true,
        ..base(&f)
    };
    assert_eq!(written(&f, &spec)["process"]["noNewPrivileges"], true);
}

#[test]
fn oom_score_adj_and_shm_size_reach_the_spec() {
    let f = fixture();
    let spec = BundleSpec {
        oom_score_adj: 100,
        shm_size: 128 << 20,
        ..base(&f)
    };
    let cfg = written(&f, &spec);
    assert_eq!(cfg["process"]["oomScoreAdj"], 100);
    let shm = cfg["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/dev/shm")
        .unwrap();
    let options = strings(&shm["options"]);
    assert!(
        options.contains(&"size=134217728".to_string()),
        "{options:?}"
    );
    assert!(!options.contains(&"size=65536k".to_string()), "{options:?}");
}

#[test]
fn default_capabilities_and_masked_paths() {
    let f = fixture();
    let cfg = written(&f, &base(&f));
    let caps = &cfg["process"]["capabilities"];
    let mut bounding = strings(&caps["bounding"]);
    bounding.sort();
    let mut expected: Vec<String> = defaults::DEFAULT_CAPABILITIES
        .iter()
        .map(|c| format!("CAP_{c}"))
        .collect();
    expected.sort();
    assert_eq!(bounding, expected);
    let mut effective = strings(&caps["effective"]);
    effective.sort();
    assert_eq!(effective, expected);
    assert!(caps.get("inheritable").is_none() && caps.get("ambient").is_none());
    assert!(strings(&cfg["linux"]["maskedPaths"]).contains(&"/proc/kcore".to_string()));
    assert!(strings(&cfg["linux"]["readonlyPaths"]).contains(&"/proc/sys".to_string()));
    let devices = &cfg["linux"]["resources"]["devices"][0];
    assert_eq!(
        (devices["allow"].as_bool(), devices["access"].as_str()),
        (Some(false), Some("rwm"))
    );
}

#[test]
fn default_mounts_in_dockers_order() {
    let f = fixture();
    let cfg = written(&f, &base(&f));
    let dests: Vec<&str> = cfg["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    assert_eq!(
        dests,
        vec![
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm"
        ]
    );
    let pts = mount_of(&cfg, "/dev/pts").unwrap();
    assert_eq!(pts["type"], "devpts");
    for o in ["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] {
        assert!(strings(&pts["options"]).contains(&o.to_string()), "{o}");
    }
    assert!(strings(&mount_of(&cfg, "/sys").unwrap()["options"]).contains(&"ro".to_string()));
    assert!(
        strings(&mount_of(&cfg, "/dev").unwrap()["options"]).contains(&"size=65536k".to_string())
    );
    assert!(strings(&mount_of(&cfg, "/dev/shm").unwrap()["options"])
        .contains(&"size=65536k".to_string()));
}

#[test]
fn extra_mounts_follow_defaults_and_replace_same_destination() {
    let f = fixture();
    let mut spec = base(&f);
    spec.mounts = vec![
        BundleMount {
            destination: "/data".into(),
            kind: "bind".into(),
            source: "/srv/data".into(),
            options: vec!["ro".into()],
        },
        BundleMount {
            destination: "/dev/shm".into(),
            kind: "tmpfs".into(),
            source: "tmpfs".into(),
            options: vec!["size=1m".into()],
        },
    ];
    let cfg = written(&f, &spec);
    let data = mount_of(&cfg, "/data").unwrap();
    assert_eq!(data["type"], "bind");
    assert_eq!(data["source"], "/srv/data");
    assert_eq!(strings(&data["options"]), vec!["rbind", "ro", "rprivate"]);
    let shm: Vec<&Value> = cfg["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] == "/dev/shm")
        .collect();
    assert_eq!(shm.len(), 1);
    assert_eq!(strings(&shm[0]["options"]), vec!["size=1m"]);
    let last = cfg["mounts"].as_array().unwrap().last().unwrap();
    assert_eq!(
        last["destination"], "/dev/shm",
        "request mounts come after the defaults"
    );
}

#[test]
fn init_wraps_the_command_and_mounts_tini() {
    let f = fixture();
    let mut spec = base(&f);
    spec.init = Some("/usr/bin/tini-static".into());
    let cfg = written(&f, &spec);
    assert_eq!(
        strings(&cfg["process"]["args"]),
        vec!["/sbin/docker-init", "--", "sh", "-c", "echo hi"]
    );
    let init = mount_of(&cfg, "/sbin/docker-init").unwrap();
    assert_eq!(init["source"], "/usr/bin/tini-static");
    assert_eq!(strings(&init["options"]), vec!["bind", "ro"]);
}

#[test]
fn user_forms_resolve_against_the_rootfs() {
    let f = fixture();
    let mut spec = base(&f);
    spec.user = "app".into();
    let cfg = written(&f, &spec);
    let u = &cfg["process"]["user"];
    assert_eq!(
        (u["uid"].as_u64(), u["gid"].as_u64()),
        (Some(1000), Some(1001))
    );
    assert_eq!(u["additionalGids"], serde_json::json!([29]));
    spec.user = "55:66".into();
    let u = written(&f, &spec)["process"]["user"].clone();
    assert_eq!((u["uid"].as_u64(), u["gid"].as_u64()), (Some(55), Some(66)));
    spec.user = "ghost".into();
    let err = write_bundle(&f.bundle, &spec).unwrap_err();
    assert!(matches!(err, RuntimeError::NoSuchUser(_)), "{err}");
}

#[test]
fn tty_readonly_domainname_and_term() {
    let f = fixture();
    let mut spec = base(&f);
    spec.tty = true;
    spec.read_only_rootfs = true;
    spec.domainname = "example.org".into();
    let cfg = written(&f, &spec);
    assert_eq!(cfg["process"]["terminal"], true);
    assert_eq!(cfg["root"]["readonly"], true);
    assert_eq!(cfg["domainname"], "example.org");
    assert!(strings(&cfg["process"]["env"]).contains(&"TERM=xterm".to_string()));
}

#[test]
fn privileged_gets_every_capability_and_no_masks() {
    let f = fixture();
    let mut spec = base(&f);
    spec.privileged = true;
    let cfg = written(&f, &spec);
    assert_eq!(
        cfg["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .len(),
        defaults::ALL_CAPABILITIES.len()
    );
    assert!(cfg["linux"].get("maskedPaths").is_none());
    assert!(cfg["linux"].get("readonlyPaths").is_none());
    assert!(strings(&mount_of(&cfg, "/sys").unwrap()["options"]).contains(&"rw".to_string()));
    assert_eq!(cfg["linux"]["resources"]["devices"][0]["allow"], true);
}

#[test]
fn cap_add_and_drop_change_the_set() {
    let f = fixture();
    let mut spec = base(&f);
    spec.cap_add = vec!["NET_ADMIN".into()];
    spec.cap_drop = vec!["CHOWN".into()];
    let caps = strings(&written(&f, &spec)["process"]["capabilities"]["bounding"]);
    assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
    assert!(!caps.contains(&"CAP_CHOWN".to_string()));
}

#[test]
fn network_forms() {
    let f = fixture();
    let mut spec = base(&f);
    spec.network = NetworkNamespace::Host;
    let cfg = written(&f, &spec);
    assert!(!cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "network"));
    assert!(cfg["linux"].get("sysctl").is_none());
    spec.network = NetworkNamespace::Path("/run/netns/x".into());
    let cfg = written(&f, &spec);
    let net = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "network")
        .unwrap()
        .clone();
    assert_eq!(net["path"], "/run/netns/x");
}

#[test]
fn resources_reach_the_spec() {
    let f = fixture();
    let mut spec = base(&f);
    spec.resources = Resources {
        memory: 32 << 20,
        nano_cpus: 500_000_000,
        pids_limit: 50,
        ..Default::default()
    };
    let cfg = written(&f, &spec);
    let r = &cfg["linux"]["resources"];
    assert_eq!(r["memory"]["limit"].as_i64(), Some(32 << 20));
    assert_eq!(r["cpu"]["quota"].as_i64(), Some(50_000));
    assert_eq!(r["cpu"]["period"].as_u64(), Some(100_000));
    assert_eq!(r["pids"]["limit"].as_i64(), Some(50));
}

#[test]
fn bad_specs_are_refused_and_write_nothing() {
    let f = fixture();
    let mut spec = base(&f);
    spec.args.clear();
    let err = write_bundle(&f.bundle, &spec).unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidSpec(_)), "{err:?}");
    assert_eq!(err.to_string(), "no command specified");
    let mut spec = base(&f);
    spec.cap_add = vec!["CAP_NOPE".into()];
    let err = write_bundle(&f.bundle, &spec).unwrap_err();
    assert!(matches!(
        crate::error::EngineError::from(err),
        crate::error::EngineError::InvalidArgument(_)
    ));
    let mut spec = base(&f);
    spec.rootfs = "relative/rootfs".into();
    assert!(write_bundle(&f.bundle, &spec).is_err());
    assert!(!f.bundle.join("config.json").exists());
}

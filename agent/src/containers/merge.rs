//! Merging what `docker create` asked for with the image's config, exactly as Docker does, and
//! the environment the process finally gets.

use crate::error::{EngineError, Result};
use crate::model::{ContainerSpec, ImageRuntimeConfig, ResolvedConfig};

/// `PATH` a container gets when neither the image nor the request sets one (Docker's default).
pub(crate) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map(|(k, _)| k).unwrap_or(entry)
}

/// `base` overlaid by `overlay`, by key, keeping `base`'s order. An overlay entry without `=`
/// removes the variable (Docker's `ReplaceOrAppendEnvValues`).
pub(crate) fn merge_env(base: &[String], overlay: &[String]) -> Vec<String> {
    let mut out: Vec<String> = base.to_vec();
    for entry in overlay {
        let key = env_key(entry);
        let position = out.iter().position(|e| env_key(e) == key);
        match (entry.contains('='), position) {
            (true, Some(i)) => out[i] = entry.clone(),
            (true, None) => out.push(entry.clone()),
            (false, Some(i)) => {
                out.remove(i);
            }
            (false, None) => {}
        }
    }
    out
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.is_empty()).cloned()
}

/// The configuration container `id` runs with: `spec` merged with its image's `image` config.
pub(crate) fn resolve_config(
    id: &str,
    spec: &ContainerSpec,
    image: &ImageRuntimeConfig,
) -> Result<ResolvedConfig> {
    // Entrypoint: the request's when given (`Some(vec![])` resets it), else the image's.
    // Cmd: the request's when given, else the image's only if the entrypoint was not overridden.
    let entrypoint = match &spec.entrypoint {
        Some(e) => e.clone(),
        None => image.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = match (&spec.cmd, &spec.entrypoint) {
        (Some(c), _) => c.clone(),
        (None, None) => image.cmd.clone().unwrap_or_default(),
        (None, Some(_)) => Vec::new(),
    };
    let working_dir = non_empty(&spec.working_dir)
        .or_else(|| non_empty(&image.working_dir))
        .unwrap_or_default();
    if !working_dir.is_empty() && !working_dir.starts_with('/') {
        return Err(EngineError::InvalidArgument(format!(
            "the working directory '{working_dir}' is invalid, it needs to be an absolute path"
        )));
    }
    let hostname =
        non_empty(&spec.hostname).unwrap_or_else(|| id.get(..12).unwrap_or(id).to_string());
    let mut labels = image.labels.clone();
    labels.extend(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut exposed_ports = image.exposed_ports.clone();
    for port in spec.exposed_ports.iter().chain(spec.host.port_bindings.keys()) {
        if !exposed_ports.contains(port) {
            exposed_ports.push(port.clone());
        }
    }
    Ok(ResolvedConfig {
        hostname,
        domainname: spec.domainname.clone().unwrap_or_default(),
        user: non_empty(&spec.user)
            .or_else(|| non_empty(&image.user))
            .unwrap_or_default(),
        env: merge_env(&image.env, &spec.env),
        cmd,
        entrypoint,
        working_dir,
        tty: spec.tty,
        open_stdin: spec.open_stdin,
        stdin_once: spec.stdin_once,
        attach_stdin: spec.attach_stdin,
        attach_stdout: spec.attach_stdout,
        attach_stderr: spec.attach_stderr,
        labels,
        exposed_ports,
        volumes: image.volumes.clone(),
        stop_signal: non_empty(&spec.stop_signal).or_else(|| non_empty(&image.stop_signal)),
        stop_timeout: spec.stop_timeout,
        image: spec.image.clone(),
    })
}

/// The full command line (entrypoint then cmd).
pub(crate) fn command_line(config: &ResolvedConfig) -> Vec<String> {
    config
        .entrypoint
        .iter()
        .chain(config.cmd.iter())
        .cloned()
        .collect()
}

/// Docker's `Path` and `Args`: the first element of entrypoint + cmd and the rest.
pub(crate) fn path_and_args(config: &ResolvedConfig) -> Result<(String, Vec<String>)> {
    let mut line = command_line(config);
    if line.is_empty() {
        return Err(EngineError::InvalidArgument(
            "no command specified".to_string(),
        ));
    }
    let path = line.remove(0);
    Ok((path, line))
}

/// The environment the process gets: Docker's defaults (`PATH`, `HOSTNAME`, `TERM` for a tty)
/// overlaid by the container's own.
pub(crate) fn runtime_env(config: &ResolvedConfig) -> Vec<String> {
    let mut base = vec![
        DEFAULT_PATH.to_string(),
        format!("HOSTNAME={}", config.hostname),
    ];
    if config.tty {
        base.push("TERM=xterm".to_string());
    }
    merge_env(&base, &config.env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageRuntimeConfig {
        ImageRuntimeConfig {
            env: vec!["PATH=/bin".into(), "A=1".into(), "B=2".into()],
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["default".into()]),
            working_dir: Some("/srv".into()),
            user: Some("nobody".into()),
            ..Default::default()
        }
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn image_defaults_apply() {
        let c = resolve_config(ID, &ContainerSpec::default(), &image()).unwrap();
        assert_eq!(command_line(&c), vec!["/entry", "default"]);
        assert_eq!(c.hostname, "0123456789ab");
        assert_eq!(c.working_dir, "/srv");
        assert_eq!(c.user, "nobody");
    }

    #[test]
    fn cmd_overrides_only_cmd() {
        let spec = ContainerSpec {
            cmd: Some(vec!["x".into()]),
            ..Default::default()
        };
        let c = resolve_config(ID, &spec, &image()).unwrap();
        assert_eq!(command_line(&c), vec!["/entry", "x"]);
    }

    #[test]
    fn entrypoint_override_drops_image_cmd() {
        let spec = ContainerSpec {
            entrypoint: Some(vec!["/other".into()]),
            ..Default::default()
        };
        let c = resolve_config(ID, &spec, &image()).unwrap();
        assert_eq!(command_line(&c), vec!["/other"]);
        let reset = ContainerSpec {
            entrypoint: Some(vec![]),
            ..Default::default()
        };
        let c = resolve_config(ID, &reset, &image()).unwrap();
        assert!(command_line(&c).is_empty());
        assert_eq!(
            path_and_args(&c).unwrap_err().to_string(),
            "no command specified"
        );
    }

    #[test]
    fn env_overlays_by_key() {
        let spec = ContainerSpec {
            env: vec!["A=9".into(), "C=3".into(), "B".into()],
            ..Default::default()
        };
        let c = resolve_config(ID, &spec, &image()).unwrap();
        assert_eq!(c.env, vec!["PATH=/bin", "A=9", "C=3"]);
        let env = runtime_env(&c);
        assert_eq!(env[0], "PATH=/bin");
        assert!(env.contains(&"HOSTNAME=0123456789ab".to_string()));
    }

    #[test]
    fn relative_workdir_is_refused() {
        let spec = ContainerSpec {
            working_dir: Some("rel".into()),
            ..Default::default()
        };
        assert!(resolve_config(ID, &spec, &image()).is_err());
    }
}

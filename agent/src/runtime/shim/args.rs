//! The shim's command line (`strata shim --id ID --bundle DIR ...`), built by `launch` and
//! parsed by the shim.

use std::os::fd::RawFd;
use std::path::PathBuf;

/// Everything a shim is told when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShimArgs {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: String,
    pub runtime_root: PathBuf,
    pub state_dir: PathBuf,
    pub log_path: PathBuf,
    pub tty: bool,
    pub stdin: bool,
    /// Inherited pipe the shim reports readiness on (`ok PID PID` or `err MESSAGE`).
    pub ready_fd: RawFd,
}

impl ShimArgs {
    /// The arguments after `strata shim`.
    pub(crate) fn to_args(&self) -> Result<Vec<String>, String> {
        let path = |name: &str, p: &PathBuf| {
            p.to_str()
                .map(String::from)
                .ok_or_else(|| format!("{name} {} is not valid UTF-8", p.display()))
        };
        let mut args = vec![
            "--id".to_string(),
            self.id.clone(),
            "--bundle".into(),
            path("bundle", &self.bundle)?,
            "--runtime".into(),
            self.runtime.clone(),
            "--runtime-root".into(),
            path("runtime root", &self.runtime_root)?,
            "--state-dir".into(),
            path("state dir", &self.state_dir)?,
            "--log".into(),
            path("log path", &self.log_path)?,
            "--ready-fd".into(),
            self.ready_fd.to_string(),
        ];
        if self.tty {
            args.push("--tty".into());
        }
        if self.stdin {
            args.push("--stdin".into());
        }
        Ok(args)
    }

    /// Parse what [`ShimArgs::to_args`] produced.
    pub(crate) fn parse(args: &[String]) -> Result<ShimArgs, String> {
        let mut id = None;
        let mut bundle = None;
        let mut runtime = None;
        let mut runtime_root = None;
        let mut state_dir = None;
        let mut log_path = None;
        let mut ready_fd = None;
        let (mut tty, mut stdin) = (false, false);
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--id" => id = Some(value()?),
                "--bundle" => bundle = Some(PathBuf::from(value()?)),
                "--runtime" => runtime = Some(value()?),
                "--runtime-root" => runtime_root = Some(PathBuf::from(value()?)),
                "--state-dir" => state_dir = Some(PathBuf::from(value()?)),
                "--log" => log_path = Some(PathBuf::from(value()?)),
                "--ready-fd" => {
                    let v = value()?;
                    ready_fd = Some(
                        v.parse::<RawFd>()
                            .map_err(|_| format!("--ready-fd {v:?} is not a number"))?,
                    )
                }
                "--tty" => tty = true,
                "--stdin" => stdin = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let need = |name: &str| format!("missing --{name}");
        Ok(ShimArgs {
            id: id.ok_or_else(|| need("id"))?,
            bundle: bundle.ok_or_else(|| need("bundle"))?,
            runtime: runtime.ok_or_else(|| need("runtime"))?,
            runtime_root: runtime_root.ok_or_else(|| need("runtime-root"))?,
            state_dir: state_dir.ok_or_else(|| need("state-dir"))?,
            log_path: log_path.ok_or_else(|| need("log"))?,
            tty,
            stdin,
            ready_fd: ready_fd.ok_or_else(|| need("ready-fd"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = ShimArgs {
            id: "abc".into(),
            bundle: "/b".into(),
            runtime: "runc".into(),
            runtime_root: "/r".into(),
            state_dir: "/s".into(),
            log_path: "/l.json".into(),
            tty: true,
            stdin: false,
            ready_fd: 3,
        };
        assert_eq!(ShimArgs::parse(&a.to_args().unwrap()).unwrap(), a);
        assert!(ShimArgs::parse(&["--id".into()]).is_err());
        assert!(ShimArgs::parse(&["--bogus".into()]).is_err());
    }
}

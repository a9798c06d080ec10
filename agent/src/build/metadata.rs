//! The instructions that only change an image's config (CMD, ENTRYPOINT, ENV, LABEL, EXPOSE,
//! VOLUME, WORKDIR, USER, STOPSIGNAL, SHELL, ONBUILD, HEALTHCHECK, MAINTAINER), applied to the
//! config's `config` object (Docker's capitalised keys) with the words expanded against the
//! config's environment (and build args), as dockerd's dispatchers do. `docker commit --change`
//! and `docker import --change` go through here too, so the rules are written once.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::dockerfile::{CommandForm, Healthcheck, Instruction};
use super::expand::{expand_word, expand_words, ExpandError};

/// Why an instruction could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MetadataError {
    #[error(transparent)]
    Expand(#[from] ExpandError),
    #[error("invalid containerPort: {0}")]
    InvalidPort(String),
    #[error("{instruction} requires at least one argument")]
    MissingArgument { instruction: &'static str },
    #[error("{0}")]
    InvalidHealthcheck(String),
}

/// Applies metadata instructions to one config, remembering what a later instruction depends
/// on (an ENTRYPOINT resets a CMD unless a CMD was set in the same build or change set).
pub(crate) struct ConfigEditor<'a> {
    config: &'a mut Map<String, Value>,
    escape: char,
    build_args: &'a BTreeMap<String, String>,
    cmd_set: bool,
}

fn strings(list: &[String]) -> Value {
    Value::Array(list.iter().cloned().map(Value::String).collect())
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn object(config: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match config.remove(key) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// `80`, `80/tcp`, `53/udp`, `8000-8001/tcp` as an `ExposedPorts` key.
pub(crate) fn port_key(port: &str) -> Result<String, MetadataError> {
    let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
    let valid_number = !number.is_empty()
        && number
            .split('-')
            .all(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    let proto = proto.to_ascii_lowercase();
    if !valid_number || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(MetadataError::InvalidPort(port.to_string()));
    }
    Ok(format!("{number}/{proto}"))
}

/// A Go duration as HEALTHCHECK flags take it (`30s`, `1m30s`, `500ms`), in nanoseconds.
fn parse_duration(flag: &str, text: &str) -> Result<i64, MetadataError> {
    let bad =
        || MetadataError::InvalidHealthcheck(format!("time: invalid duration \"{text}\" ({flag})"));
    let mut total: f64 = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = tail;
    }
    Ok(total as i64)
}

impl<'a> ConfigEditor<'a> {
    pub(crate) fn new(
        config: &'a mut Map<String, Value>,
        escape: char,
        build_args: &'a BTreeMap<String, String>,
    ) -> Self {
        ConfigEditor {
            config,
            escape,
            build_args,
            cmd_set: false,
        }
    }

    /// A variable's value: the config's environment first, then the build args.
    fn lookup(&self, name: &str) -> Option<String> {
        string_list(self.config.get("Env"))
            .iter()
            .rev()
            .find_map(|e| {
                e.split_once('=')
                    .filter(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .or_else(|| self.build_args.get(name).cloned())
    }

    fn word(&self, text: &str) -> Result<String, MetadataError> {
        let lookup = |name: &str| self.lookup(name);
        Ok(expand_word(text, self.escape, &lookup)?)
    }

    fn words(&self, text: &str) -> Result<Vec<String>, MetadataError> {
        let lookup = |name: &str| self.lookup(name);
        Ok(expand_words(text, self.escape, &lookup)?)
    }

    /// The config's SHELL, or `/bin/sh -c`.
    pub(crate) fn shell(&self) -> Vec<String> {
        let shell = string_list(self.config.get("Shell"));
        if shell.is_empty() {
            vec!["/bin/sh".to_string(), "-c".to_string()]
        } else {
            shell
        }
    }

    /// A command as the config stores it: exec form as is, shell form through SHELL.
    pub(crate) fn command(&self, form: &CommandForm) -> Vec<String> {
        match form {
            CommandForm::Exec(args) => args.clone(),
            CommandForm::Shell(text) => {
                let mut cmd = self.shell();
                cmd.push(text.clone());
                cmd
            }
        }
    }

    /// Apply `instruction`; `Ok(false)` when it is not a metadata instruction (RUN, COPY, ADD,
    /// ARG are the builder's).
    pub(crate) fn apply(&mut self, instruction: &Instruction) -> Result<bool, MetadataError> {
        match instruction {
            Instruction::Cmd(form) => {
                let cmd = self.command(form);
                self.config.insert("Cmd".into(), strings(&cmd));
                self.cmd_set = true;
            }
            Instruction::Entrypoint(form) => {
                let entrypoint = self.command(form);
                self.config
                    .insert("Entrypoint".into(), strings(&entrypoint));
                if !self.cmd_set {
                    self.config.insert("Cmd".into(), Value::Null);
                }
            }
            Instruction::Env(pairs) => {
                // Every word of one ENV sees the environment before it (Docker's documented
                // rule: `ENV abc=bye def=$abc` gives def the old abc).
                let expanded = pairs
                    .iter()
                    .map(|(k, v)| Ok((self.word(k)?, self.word(v)?)))
                    .collect::<Result<Vec<_>, MetadataError>>()?;
                let mut env = string_list(self.config.get("Env"));
                for (key, value) in expanded {
                    let entry = format!("{key}={value}");
                    match env
                        .iter_mut()
                        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
                    {
                        Some(existing) => *existing = entry,
                        None => env.push(entry),
                    }
                }
                self.config.insert("Env".into(), strings(&env));
            }
            Instruction::Label(pairs) => {
                let mut labels = object(self.config, "Labels");
                for (key, value) in pairs {
                    labels.insert(self.word(key)?, Value::String(self.word(value)?));
                }
                self.config.insert("Labels".into(), Value::Object(labels));
            }
            Instruction::Expose(ports) => {
                let mut exposed = object(self.config, "ExposedPorts");
                for raw in ports {
                    for port in self.words(raw)? {
                        exposed.insert(port_key(&port)?, Value::Object(Map::new()));
                    }
                }
                self.config
                    .insert("ExposedPorts".into(), Value::Object(exposed));
            }
            Instruction::Volume(paths) => {
                let mut volumes = object(self.config, "Volumes");
                for raw in paths {
                    let path = self.word(raw)?;
                    if path.is_empty() {
                        return Err(MetadataError::MissingArgument {
                            instruction: "VOLUME",
                        });
                    }
                    volumes.insert(path, Value::Object(Map::new()));
                }
                self.config.insert("Volumes".into(), Value::Object(volumes));
            }
            Instruction::Workdir(dir) => {
                let dir = self.word(dir)?;
                if dir.is_empty() {
                    return Err(MetadataError::MissingArgument {
                        instruction: "WORKDIR",
                    });
                }
                // As dockerd: an absolute path as given, a relative one joined and cleaned.
                let dir = if dir.starts_with('/') {
                    dir
                } else {
                    let current = self
                        .config
                        .get("WorkingDir")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    super::ignore::clean_path(&format!("/{current}/{dir}"))
                };
                self.config.insert("WorkingDir".into(), Value::String(dir));
            }
            Instruction::User(user) => {
                let user = self.word(user)?;
                self.config.insert("User".into(), Value::String(user));
            }
            Instruction::Stopsignal(signal) => {
                let signal = self.word(signal)?;
                self.config
                    .insert("StopSignal".into(), Value::String(signal));
            }
            Instruction::Shell(shell) => {
                self.config.insert("Shell".into(), strings(shell));
            }
            Instruction::Onbuild(trigger) => {
                let mut triggers = string_list(self.config.get("OnBuild"));
                triggers.push(trigger.clone());
                self.config.insert("OnBuild".into(), strings(&triggers));
            }
            Instruction::Healthcheck(check) => {
                let value = self.healthcheck(check)?;
                self.config.insert("Healthcheck".into(), value);
            }
            Instruction::Maintainer(_) => {
                // The author is a field of the image config, outside `config`: the builder
                // records it. Nothing in the runtime config changes.
            }
            Instruction::Run(_)
            | Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::Arg(_) => return Ok(false),
        }
        Ok(true)
    }

    fn healthcheck(&self, check: &Healthcheck) -> Result<Value, MetadataError> {
        let (command, options) = match check {
            Healthcheck::None => return Ok(serde_json::json!({"Test": ["NONE"]})),
            Healthcheck::Cmd { command, options } => (command, options),
        };
        let test: Vec<String> = match command {
            CommandForm::Exec(args) => std::iter::once("CMD".to_string())
                .chain(args.iter().cloned())
                .collect(),
            CommandForm::Shell(text) => vec!["CMD-SHELL".to_string(), text.clone()],
        };
        let mut out = Map::new();
        out.insert("Test".into(), strings(&test));
        for (name, value) in options {
            let key = match name.as_str() {
                "interval" => "Interval",
                "timeout" => "Timeout",
                "start-period" => "StartPeriod",
                "retries" => {
                    let retries: i64 = value.parse().map_err(|_| {
                        MetadataError::InvalidHealthcheck(format!(
                            "invalid value for --retries: {value}"
                        ))
                    })?;
                    if retries < 1 {
                        return Err(MetadataError::InvalidHealthcheck(
                            "--retries cannot be negative or zero".to_string(),
                        ));
                    }
                    out.insert("Retries".into(), Value::from(retries));
                    continue;
                }
                other => {
                    return Err(MetadataError::InvalidHealthcheck(format!(
                        "Unknown flag: {other}"
                    )))
                }
            };
            let nanos = parse_duration(name, value)?;
            if nanos != 0 && nanos < 1_000_000 {
                return Err(MetadataError::InvalidHealthcheck(format!(
                    "{name} cannot be less than 1ms"
                )));
            }
            out.insert(key.into(), Value::from(nanos));
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::build::dockerfile::parse;

    /// Apply the steps of `FROM scratch` + `lines` to `start`.
    fn applied(start: Value, lines: &str) -> Result<Value, MetadataError> {
        let mut config = start.as_object().cloned().unwrap_or_default();
        let file = parse(&format!("FROM scratch\n{lines}")).expect("parses");
        let args = BTreeMap::from([("ARGV".to_string(), "from-arg".to_string())]);
        let mut editor = ConfigEditor::new(&mut config, file.escape, &args);
        for step in &file.stages[0].steps {
            editor.apply(&step.instruction)?;
        }
        Ok(Value::Object(config))
    }

    #[test]
    fn env_expands_and_replaces_in_place() {
        let c = applied(
            json!({"Env": ["PATH=/bin", "A=1"]}),
            "ENV A=2 B=\"$PATH:/x\" C=${A}\nENV LEGACY some value\nENV D=$ARGV E=$A",
        )
        .unwrap();
        assert_eq!(
            c["Env"],
            json!([
                "PATH=/bin",
                "A=2",
                "B=/bin:/x",
                "C=1",
                "LEGACY=some value",
                "D=from-arg",
                "E=2"
            ]),
            "one ENV's words see the environment before it"
        );
    }

    #[test]
    fn commands_use_the_shell_and_entrypoint_resets_cmd() {
        let c = applied(json!({"Cmd": ["sh"]}), "CMD echo hi").unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        let c = applied(
            json!({}),
            "SHELL [\"/bin/bash\", \"-eu\", \"-c\"]\nCMD echo $X",
        )
        .unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/bash", "-eu", "-c", "echo $X"]));
        let c = applied(json!({"Cmd": ["sh"]}), "ENTRYPOINT [\"/bin/echo\"]").unwrap();
        assert_eq!(c["Cmd"], Value::Null);
        let c = applied(json!({}), "CMD [\"x\"]\nENTRYPOINT [\"e\"]").unwrap();
        assert_eq!(c["Cmd"], json!(["x"]), "a CMD of the same set stays");
    }

    #[test]
    fn labels_ports_volumes_workdir_user_signal() {
        let c = applied(
            json!({"Env": ["P=8080", "W=app"]}),
            "LABEL x=y \"quoted key\"=v\nEXPOSE 80 $P 53/udp\nVOLUME [\"/data\"]\nVOLUME /a /b\n\
             WORKDIR /srv\nWORKDIR $W/../app2\nUSER nobody\nSTOPSIGNAL SIGINT\n\
             ONBUILD RUN echo hi\nMAINTAINER me",
        )
        .unwrap();
        assert_eq!(c["Labels"], json!({"x": "y", "quoted key": "v"}));
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "8080/tcp": {}, "53/udp": {}})
        );
        assert_eq!(c["Volumes"], json!({"/data": {}, "/a": {}, "/b": {}}));
        assert_eq!(c["WorkingDir"], json!("/srv/app2"));
        assert_eq!(c["User"], json!("nobody"));
        assert_eq!(c["StopSignal"], json!("SIGINT"));
        assert_eq!(c["OnBuild"], json!(["RUN echo hi"]));
    }

    #[test]
    fn healthcheck_as_docker_stores_it() {
        let c = applied(
            json!({}),
            "HEALTHCHECK --interval=5s --timeout=1m30s --start-period=500ms --retries=3 CMD curl -f x",
        )
        .unwrap();
        assert_eq!(
            c["Healthcheck"],
            json!({
                "Test": ["CMD-SHELL", "curl -f x"],
                "Interval": 5_000_000_000i64,
                "Timeout": 90_000_000_000i64,
                "StartPeriod": 500_000_000i64,
                "Retries": 3
            })
        );
        let c = applied(json!({}), "HEALTHCHECK CMD [\"true\"]").unwrap();
        assert_eq!(c["Healthcheck"], json!({"Test": ["CMD", "true"]}));
        let c = applied(json!({}), "HEALTHCHECK NONE").unwrap();
        assert_eq!(c["Healthcheck"], json!({"Test": ["NONE"]}));
        assert!(applied(json!({}), "HEALTHCHECK --retries=0 CMD true").is_err());
        assert!(applied(json!({}), "HEALTHCHECK --interval=soon CMD true").is_err());
    }

    #[test]
    fn errors() {
        assert_eq!(
            applied(json!({}), "EXPOSE http").unwrap_err().to_string(),
            "invalid containerPort: http"
        );
        assert!(matches!(
            applied(json!({}), "LABEL a=${B").unwrap_err(),
            MetadataError::Expand(_)
        ));
    }
}

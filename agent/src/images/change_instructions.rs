//! `--change` instructions of `docker commit` and `docker import`: Dockerfile lines (`CMD`,
//! `ENTRYPOINT`, `ENV`, `WORKDIR`, `USER`, `EXPOSE`, `LABEL`, `VOLUME`, `STOPSIGNAL`), in JSON or
//! shell form, applied in order to an image config's `config` object (Docker's capitalised
//! keys), as dockerd's `BuildFromConfig` does.

use serde_json::{Map, Value};

use crate::error::{EngineError, Result};

/// Apply every instruction of `changes` (each may hold several lines) to `config`.
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for line in changes.iter().flat_map(|c| c.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = match line.split_once(char::is_whitespace) {
            Some((word, rest)) => (word, rest.trim()),
            None => (line, ""),
        };
        let instruction = word.to_ascii_uppercase();
        match instruction.as_str() {
            "CMD" => {
                config.insert("Cmd".into(), strings(&command_form(rest)));
                cmd_set = true;
            }
            "ENTRYPOINT" => {
                config.insert("Entrypoint".into(), strings(&command_form(rest)));
                // As in a Dockerfile: an ENTRYPOINT resets a CMD not set by these changes.
                if !cmd_set {
                    config.insert("Cmd".into(), Value::Null);
                }
            }
            "ENV" => {
                let pairs = key_values(rest, "ENV", true)?;
                let env = string_list(config.get("Env"));
                config.insert("Env".into(), strings(&set_env(env, pairs)));
            }
            "LABEL" => {
                let pairs = key_values(rest, "LABEL", false)?;
                let mut labels = take_object(config, "Labels");
                for (key, value) in pairs {
                    labels.insert(key, Value::String(value));
                }
                config.insert("Labels".into(), Value::Object(labels));
            }
            "WORKDIR" => {
                let dir = require_arg(rest, "WORKDIR")?;
                let current = config
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let dir = if dir.starts_with('/') {
                    dir.to_string()
                } else {
                    format!("{}/{dir}", current.trim_end_matches('/'))
                };
                config.insert("WorkingDir".into(), Value::String(dir));
            }
            "USER" => {
                let user = require_arg(rest, "USER")?;
                config.insert("User".into(), Value::String(user.to_string()));
            }
            "STOPSIGNAL" => {
                let signal = require_arg(rest, "STOPSIGNAL")?;
                config.insert("StopSignal".into(), Value::String(signal.to_string()));
            }
            "EXPOSE" => {
                require_arg(rest, "EXPOSE")?;
                let mut ports = take_object(config, "ExposedPorts");
                for port in rest.split_whitespace() {
                    ports.insert(port_key(port)?, Value::Object(Map::new()));
                }
                config.insert("ExposedPorts".into(), Value::Object(ports));
            }
            "VOLUME" => {
                require_arg(rest, "VOLUME")?;
                let paths = match json_list(rest) {
                    Some(list) => list,
                    None => rest.split_whitespace().map(str::to_string).collect(),
                };
                let mut volumes = take_object(config, "Volumes");
                for path in paths.into_iter().filter(|p| !p.is_empty()) {
                    volumes.insert(path, Value::Object(Map::new()));
                }
                config.insert("Volumes".into(), Value::Object(volumes));
            }
            _ => {
                return Err(EngineError::InvalidArgument(format!(
                    "{word} is not a valid change command"
                )))
            }
        }
    }
    Ok(())
}

fn require_arg<'a>(rest: &'a str, instruction: &str) -> Result<&'a str> {
    if rest.is_empty() {
        Err(EngineError::InvalidArgument(format!(
            "{instruction} requires at least one argument"
        )))
    } else {
        Ok(rest)
    }
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

/// Take the object under `key` out of `config` (empty when absent or not an object); the caller
/// puts it back.
fn take_object(config: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match config.remove(key) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// A JSON array of strings, if `text` is one.
fn json_list(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(text).ok()
}

/// `["a","b"]` as is; anything else is shell form: `/bin/sh -c TEXT`.
fn command_form(rest: &str) -> Vec<String> {
    match json_list(rest) {
        Some(list) => list,
        None => vec!["/bin/sh".into(), "-c".into(), rest.to_string()],
    }
}

/// `80`, `80/tcp`, `53/udp`, `8000-8001/tcp` as the `ExposedPorts` key.
fn port_key(port: &str) -> Result<String> {
    let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
    let valid_number = !number.is_empty()
        && number
            .split('-')
            .all(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    let proto = proto.to_ascii_lowercase();
    if !valid_number || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(EngineError::InvalidArgument(format!(
            "invalid containerPort: {port}"
        )));
    }
    Ok(format!("{number}/{proto}"))
}

/// Replace or append `KEY=value` entries.
fn set_env(mut env: Vec<String>, pairs: Vec<(String, String)>) -> Vec<String> {
    for (key, value) in pairs {
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
    }
    env
}

/// `k=v k2="v 2"` (or, for ENV only, the legacy `KEY value with spaces`).
fn key_values(
    rest: &str,
    instruction: &str,
    legacy_allowed: bool,
) -> Result<Vec<(String, String)>> {
    let words = split_words(rest);
    if words.is_empty() {
        return Err(EngineError::InvalidArgument(format!(
            "{instruction} requires at least one argument"
        )));
    }
    let first_has_eq = words[0].raw_key_has_eq;
    if !first_has_eq {
        if legacy_allowed {
            let mut parts = rest.splitn(2, char::is_whitespace);
            let key = parts.next().unwrap_or_default().to_string();
            let value = parts.next().unwrap_or_default().trim().to_string();
            if value.is_empty() {
                return Err(EngineError::InvalidArgument(format!(
                    "{instruction} must have two arguments"
                )));
            }
            return Ok(vec![(key, value)]);
        }
        return Err(EngineError::InvalidArgument(format!(
            "{instruction} names can not be blank or lack a value: {rest:?} (want key=value)"
        )));
    }
    let mut out = Vec::new();
    for word in words {
        match word.text.split_once('=') {
            Some((key, value)) if !key.is_empty() && word.raw_key_has_eq => {
                out.push((key.to_string(), value.to_string()))
            }
            _ => {
                return Err(EngineError::InvalidArgument(format!(
                    "{instruction}: {:?} is not of the form key=value",
                    word.text
                )))
            }
        }
    }
    Ok(out)
}

/// One word after quote removal, and whether an `=` appeared outside quotes (the key part).
struct Word {
    text: String,
    raw_key_has_eq: bool,
}

/// Split on unquoted whitespace; `"..."` and `'...'` group, `\` escapes the next character.
fn split_words(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut has_eq = false;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
                in_word = true;
            }
            (Some(_), c) => current.push(c),
            (None, '"') | (None, '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(Word {
                        text: std::mem::take(&mut current),
                        raw_key_has_eq: has_eq,
                    });
                    has_eq = false;
                    in_word = false;
                }
            }
            (None, c) => {
                if c == '=' {
                    has_eq = true;
                }
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(Word {
            text: current,
            raw_key_has_eq: has_eq,
        });
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn applied(start: Value, changes: &[&str]) -> Result<Value> {
        let mut map = start.as_object().cloned().unwrap();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut map, &changes)?;
        Ok(Value::Object(map))
    }

    #[test]
    fn cmd_and_entrypoint_in_both_forms() {
        let c = applied(json!({"Cmd": ["sh"]}), &[r#"CMD ["cat","/x"]"#]).unwrap();
        assert_eq!(c["Cmd"], json!(["cat", "/x"]));
        let c = applied(json!({"Cmd": ["sh"]}), &["cmd echo hi"]).unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        let c = applied(json!({"Cmd": ["sh"]}), &[r#"ENTRYPOINT ["/bin/echo"]"#]).unwrap();
        assert_eq!(c["Entrypoint"], json!(["/bin/echo"]));
        assert_eq!(c["Cmd"], Value::Null, "ENTRYPOINT resets an old CMD");
        let c = applied(json!({}), &["CMD [\"x\"]", "ENTRYPOINT [\"e\"]"]).unwrap();
        assert_eq!(c["Cmd"], json!(["x"]), "but not one set by the changes");
    }

    #[test]
    fn env_label_expose_volume_workdir_user_stopsignal() {
        let c = applied(
            json!({"Env": ["PATH=/bin", "A=1"]}),
            &[
                "ENV A=2 B=\"two words\"",
                "ENV LEGACY some value",
                "LABEL x=y \"quoted key\"=v",
                "EXPOSE 80 53/udp",
                "VOLUME [\"/data\"]",
                "VOLUME /a /b",
                "WORKDIR /srv",
                "WORKDIR app",
                "USER nobody",
                "STOPSIGNAL SIGINT",
            ],
        )
        .unwrap();
        assert_eq!(
            c["Env"],
            json!(["PATH=/bin", "A=2", "B=two words", "LEGACY=some value"])
        );
        assert_eq!(c["Labels"], json!({"x": "y", "quoted key": "v"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Volumes"], json!({"/data": {}, "/a": {}, "/b": {}}));
        assert_eq!(c["WorkingDir"], json!("/srv/app"));
        assert_eq!(c["User"], json!("nobody"));
        assert_eq!(c["StopSignal"], json!("SIGINT"));
    }

    #[test]
    fn bad_changes_are_refused_with_docker_words() {
        let err = applied(json!({}), &["RUN rm -rf /"]).unwrap_err();
        assert_eq!(err.to_string(), "RUN is not a valid change command");
        assert!(applied(json!({}), &["EXPOSE http"]).is_err());
        assert!(applied(json!({}), &["LABEL novalue"]).is_err());
        assert!(applied(json!({}), &["USER"]).is_err());
    }
}

//! `--change` instructions of `docker commit` and `docker import`: Dockerfile lines (`CMD`,
//! `ENTRYPOINT`, `ENV`, `WORKDIR`, `USER`, `EXPOSE`, `LABEL`, `VOLUME`, `STOPSIGNAL`,
//! `ONBUILD`), in JSON or shell form, applied in order to an image config's `config` object, as
//! dockerd's `BuildFromConfig` does: read by the builder's Dockerfile parser and applied by its
//! config editor, so the rules are the same as in `docker build`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::build::dockerfile::{parse_changes, Instruction};
use crate::build::metadata::ConfigEditor;
use crate::error::{EngineError, Result};

/// Whether `--change` may carry this instruction (dockerd's `validCommitCommands`).
fn allowed_in_changes(instruction: &Instruction) -> bool {
    matches!(
        instruction,
        Instruction::Cmd(_)
            | Instruction::Entrypoint(_)
            | Instruction::Env(_)
            | Instruction::Expose(_)
            | Instruction::Label(_)
            | Instruction::Onbuild(_)
            | Instruction::Stopsignal(_)
            | Instruction::User(_)
            | Instruction::Volume(_)
            | Instruction::Workdir(_)
    )
}

/// Apply every instruction of `changes` (each may hold several lines) to `config`.
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    let steps = parse_changes(&changes.join("\n"))
        .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    let no_build_args = BTreeMap::new();
    let mut editor = ConfigEditor::new(config, '\\', &no_build_args);
    for step in steps {
        if !allowed_in_changes(&step.instruction) {
            let word = step.original.split_whitespace().next().unwrap_or_default();
            return Err(EngineError::InvalidArgument(format!(
                "{} is not a valid change command",
                word.to_ascii_uppercase()
            )));
        }
        editor
            .apply(&step.instruction)
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    }
    Ok(())
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

//! A Dockerfile read into the builder's own model: stages, and per step its line, the text that
//! `Step N/M : ...` shows, and the instruction with its words still unexpanded (expansion needs
//! the environment of the moment, so it happens when the step runs, see `expand`).
//!
//! The `parse-dockerfile` crate does the lexing (directives, instructions, JSON vs shell form,
//! flags, `AS`); `lines` adds the rules it leaves to the caller. Errors carry dockerd's words
//! and the line (`dockerfile parse error line 2: unknown instruction: FOO`).

use parse_dockerfile as pd;

use super::lines::{arg_decls, logical_line, name_values};

/// A Dockerfile that cannot be built from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error line {line}: {message}")]
pub(crate) struct DockerfileError {
    pub line: usize,
    pub message: String,
}

/// A command in shell form (run through `SHELL`, default `/bin/sh -c`) or exec form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommandForm {
    Shell(String),
    Exec(Vec<String>),
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transfer {
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from=stage|image` (COPY only).
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Healthcheck {
    None,
    Cmd {
        command: CommandForm,
        /// `--interval`, `--timeout`, `--start-period`, `--retries` as written.
        options: Vec<(String, String)>,
    },
}

/// One instruction after FROM, words unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Instruction {
    Run(CommandForm),
    Cmd(CommandForm),
    Entrypoint(CommandForm),
    Shell(Vec<String>),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Workdir(String),
    User(String),
    Stopsignal(String),
    Maintainer(String),
    Copy(Transfer),
    Add(Transfer),
    /// The trigger as written (`RUN echo hi`), stored in the image's `OnBuild`.
    Onbuild(String),
    Healthcheck(Healthcheck),
}

/// A step: its first line, what `Step N/M :` shows, and the instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub line: usize,
    pub original: String,
    pub instruction: Instruction,
}

/// `FROM [--platform=P] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stage {
    pub line: usize,
    pub original: String,
    pub image: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dockerfile {
    /// The escape character (`\`, or `` ` `` by directive).
    pub escape: char,
    /// ARGs before the first FROM (usable in FROM lines).
    pub meta_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Every step of every stage, FROM lines included, for `Step N/M`.
    pub(crate) fn step_count(&self) -> usize {
        self.stages.iter().map(|s| 1 + s.steps.len()).sum()
    }
}

/// Byte offsets to 1-based line numbers.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

struct Reader<'t> {
    text: &'t str,
    escape: char,
    lines: LineIndex,
}

/// Read a Dockerfile.
pub(crate) fn parse(text: &str) -> Result<Dockerfile, DockerfileError> {
    let parsed = pd::parse(text).map_err(|e| DockerfileError {
        line: e.line(),
        message: crate_message(&e.to_string()),
    })?;
    let escape = parsed
        .parser_directives
        .escape
        .as_ref()
        .map(|d| d.value.value)
        .unwrap_or('\\');
    let reader = Reader {
        text,
        escape,
        lines: LineIndex::new(text),
    };
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in &parsed.instructions {
        match instruction {
            pd::Instruction::From(from) => stages.push(reader.stage(from)?),
            other => {
                let step = reader.step(other)?;
                match stages.last_mut() {
                    Some(stage) => stage.steps.push(step),
                    None => match step.instruction {
                        Instruction::Arg(decls) => meta_args.extend(decls),
                        _ => {
                            return Err(DockerfileError {
                                line: step.line,
                                message: "no build stage in current context".into(),
                            })
                        }
                    },
                }
            }
        }
    }
    if stages.is_empty() {
        return Err(DockerfileError {
            line: reader.lines.starts.len(),
            message: "file with no instructions".into(),
        });
    }
    Ok(Dockerfile {
        escape,
        meta_args,
        stages,
    })
}

/// Read `--change` lines (`docker commit`/`import`): instructions without a FROM, numbered
/// from 1 as the user wrote them.
pub(crate) fn parse_changes(text: &str) -> Result<Vec<Step>, DockerfileError> {
    const PREFIX: &str = "FROM scratch\n";
    let renumber = |line: usize| line.saturating_sub(1).max(1);
    let mut file = parse(&format!("{PREFIX}{text}")).map_err(|e| DockerfileError {
        line: renumber(e.line),
        message: e.message,
    })?;
    if file.stages.len() != 1 {
        return Err(DockerfileError {
            line: renumber(file.stages.get(1).map_or(1, |s| s.line)),
            message: "FROM is not a valid change command".into(),
        });
    }
    let mut steps = file.stages.remove(0).steps;
    for step in &mut steps {
        step.line = renumber(step.line);
    }
    Ok(steps)
}

/// The crate's message without its own "at line L column C" (the line is ours to say).
fn crate_message(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn flag_value(flag: &pd::Flag<'_>) -> String {
    flag.value
        .as_ref()
        .map(|v| v.value.to_string())
        .unwrap_or_default()
}

impl Reader<'_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> DockerfileError {
        DockerfileError {
            line: self.lines.line_of(offset),
            message: message.into(),
        }
    }

    /// The logical line starting at `offset`.
    fn logical(&self, offset: usize) -> String {
        logical_line(&self.text[offset..], self.escape)
    }

    /// The text after the keyword ending at `keyword_end`, as one logical line.
    fn rest_after(&self, keyword_end: usize) -> String {
        self.logical(keyword_end).trim().to_string()
    }

    fn command(&self, command: &pd::Command<'_>) -> Result<CommandForm, DockerfileError> {
        match command {
            pd::Command::Exec(args) => Ok(CommandForm::Exec(
                args.value.iter().map(|a| a.value.to_string()).collect(),
            )),
            pd::Command::Shell(shell) => Ok(CommandForm::Shell(self.logical(shell.span.start))),
            _ => Err(self.error(0, "unsupported command form")),
        }
    }

    fn stage(&self, from: &pd::FromInstruction<'_>) -> Result<Stage, DockerfileError> {
        let start = from.from.span.start;
        let mut platform = None;
        for flag in &from.options {
            match flag.name.value.as_ref() {
                "platform" => platform = Some(flag_value(flag)),
                other => return Err(self.error(start, format!("Unknown flag: {other}"))),
            }
        }
        Ok(Stage {
            line: self.lines.line_of(start),
            original: self.logical(start),
            image: from.image.value.to_string(),
            name: from.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
            platform,
            steps: Vec::new(),
        })
    }

    fn transfer(
        &self,
        start: usize,
        options: &[pd::Flag<'_>],
        sources: &[pd::Source<'_>],
        dest: &pd::UnescapedString<'_>,
        allow_from: bool,
    ) -> Result<Transfer, DockerfileError> {
        let mut transfer = Transfer {
            sources: Vec::new(),
            dest: dest.value.to_string(),
            from: None,
            chown: None,
            chmod: None,
        };
        for flag in options {
            let value = Some(flag_value(flag));
            match flag.name.value.as_ref() {
                "from" if allow_from => transfer.from = value,
                "chown" => transfer.chown = value,
                "chmod" => transfer.chmod = value,
                other => return Err(self.error(start, format!("Unknown flag: {other}"))),
            }
        }
        for source in sources {
            match source {
                pd::Source::Path(p) => transfer.sources.push(p.value.to_string()),
                pd::Source::HereDoc(_) => {
                    return Err(self.error(start, "here-documents need BuildKit"))
                }
                _ => return Err(self.error(start, "unsupported source")),
            }
        }
        Ok(transfer)
    }

    fn step(&self, instruction: &pd::Instruction<'_>) -> Result<Step, DockerfileError> {
        let (start, parsed) = self.instruction(instruction)?;
        Ok(Step {
            line: self.lines.line_of(start),
            original: self.logical(start),
            instruction: parsed,
        })
    }

    /// The keyword's offset and the instruction in our model.
    fn instruction(
        &self,
        instruction: &pd::Instruction<'_>,
    ) -> Result<(usize, Instruction), DockerfileError> {
        use pd::Instruction as I;
        let bad = |start: usize, message: String| self.error(start, message);
        Ok(match instruction {
            I::Run(run) => {
                let start = run.run.span.start;
                if let Some(flag) = run.options.first() {
                    return Err(bad(
                        start,
                        format!(
                            "the --{} option requires BuildKit. Refer to \
                             https://docs.docker.com/go/buildkit/ to learn how to build images \
                             with BuildKit enabled",
                            flag.name.value
                        ),
                    ));
                }
                if !run.here_docs.is_empty() {
                    return Err(bad(start, "here-documents need BuildKit".into()));
                }
                (start, Instruction::Run(self.command(&run.arguments)?))
            }
            I::Cmd(cmd) => (
                cmd.cmd.span.start,
                Instruction::Cmd(self.command(&cmd.arguments)?),
            ),
            I::Entrypoint(e) => (
                e.entrypoint.span.start,
                Instruction::Entrypoint(self.command(&e.arguments)?),
            ),
            I::Shell(shell) => (
                shell.shell.span.start,
                Instruction::Shell(
                    shell
                        .arguments
                        .iter()
                        .map(|a| a.value.to_string())
                        .collect(),
                ),
            ),
            I::Env(env) => {
                let start = env.env.span.start;
                let rest = self.rest_after(env.env.span.end);
                let pairs = name_values("ENV", &rest, self.escape).map_err(|m| bad(start, m))?;
                (start, Instruction::Env(pairs))
            }
            I::Label(label) => {
                let start = label.label.span.start;
                let rest = self.rest_after(label.label.span.end);
                let pairs = name_values("LABEL", &rest, self.escape).map_err(|m| bad(start, m))?;
                (start, Instruction::Label(pairs))
            }
            I::Arg(arg) => {
                let start = arg.arg.span.start;
                let rest = self.rest_after(arg.arg.span.end);
                let decls = arg_decls(&rest, self.escape).map_err(|m| bad(start, m))?;
                (start, Instruction::Arg(decls))
            }
            I::Expose(expose) => (
                expose.expose.span.start,
                Instruction::Expose(
                    expose
                        .arguments
                        .iter()
                        .map(|a| a.value.to_string())
                        .collect(),
                ),
            ),
            I::Volume(volume) => {
                let words = match &volume.arguments {
                    pd::JsonOrStringArray::Json(list) => &list.value,
                    pd::JsonOrStringArray::String(list) => list,
                };
                (
                    volume.volume.span.start,
                    Instruction::Volume(words.iter().map(|a| a.value.to_string()).collect()),
                )
            }
            I::Workdir(w) => (
                w.workdir.span.start,
                Instruction::Workdir(self.rest_after(w.workdir.span.end)),
            ),
            I::User(u) => (
                u.user.span.start,
                Instruction::User(self.rest_after(u.user.span.end)),
            ),
            I::Stopsignal(s) => (
                s.stopsignal.span.start,
                Instruction::Stopsignal(self.rest_after(s.stopsignal.span.end)),
            ),
            I::Maintainer(m) => (
                m.maintainer.span.start,
                Instruction::Maintainer(self.rest_after(m.maintainer.span.end)),
            ),
            I::Copy(copy) => {
                let start = copy.copy.span.start;
                let t = self.transfer(start, &copy.options, &copy.src, &copy.dest, true)?;
                (start, Instruction::Copy(t))
            }
            I::Add(add) => {
                let start = add.add.span.start;
                let t = self.transfer(start, &add.options, &add.src, &add.dest, false)?;
                (start, Instruction::Add(t))
            }
            I::Onbuild(onbuild) => {
                let start = onbuild.onbuild.span.start;
                let trigger = self.rest_after(onbuild.onbuild.span.end);
                if matches!(*onbuild.instruction, I::From(_) | I::Onbuild(_))
                    || trigger.to_ascii_uppercase().starts_with("MAINTAINER")
                {
                    let word = trigger
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_uppercase();
                    return Err(bad(
                        start,
                        format!("{word} isn't allowed as an ONBUILD trigger"),
                    ));
                }
                (start, Instruction::Onbuild(trigger))
            }
            I::Healthcheck(h) => {
                let start = h.healthcheck.span.start;
                let check = match &h.arguments {
                    pd::HealthcheckArguments::None { .. } => Healthcheck::None,
                    pd::HealthcheckArguments::Cmd { arguments, .. } => {
                        let mut options = Vec::new();
                        for flag in &h.options {
                            let name = flag.name.value.to_string();
                            if !matches!(
                                name.as_str(),
                                "interval" | "timeout" | "start-period" | "retries"
                            ) {
                                return Err(bad(start, format!("Unknown flag: {name}")));
                            }
                            options.push((name, flag_value(flag)));
                        }
                        Healthcheck::Cmd {
                            command: self.command(arguments)?,
                            options,
                        }
                    }
                    _ => return Err(bad(start, "unsupported HEALTHCHECK form".into())),
                };
                (start, Instruction::Healthcheck(check))
            }
            I::From(from) => {
                return Err(bad(
                    from.from.span.start,
                    "FROM inside a stage is not a step".into(),
                ))
            }
            _ => return Err(self.error(0, "unsupported instruction")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(s: &str) -> CommandForm {
        CommandForm::Shell(s.to_string())
    }

    #[test]
    fn the_primers_listing_with_env_and_a_multi_line_run() {
        let text = "FROM busybox:latest\nENV GREETING=hello \\\n    TARGET=\"the world\"\n\
                    # a comment\nRUN echo $GREETING \\\n    && echo done\nCMD [\"sh\"]\n";
        let d = parse(text).unwrap();
        assert_eq!(d.escape, '\\');
        assert_eq!(d.stages.len(), 1);
        let stage = &d.stages[0];
        assert_eq!((stage.image.as_str(), stage.line), ("busybox:latest", 1));
        assert_eq!(stage.original, "FROM busybox:latest");
        let steps = &stage.steps;
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].line, 2);
        assert_eq!(
            steps[0].instruction,
            Instruction::Env(vec![
                ("GREETING".into(), "hello".into()),
                ("TARGET".into(), "\"the world\"".into())
            ])
        );
        assert_eq!(steps[1].line, 5);
        assert_eq!(steps[1].original, "RUN echo $GREETING     && echo done");
        assert_eq!(
            steps[1].instruction,
            Instruction::Run(shell("echo $GREETING     && echo done"))
        );
        assert_eq!(
            steps[2].instruction,
            Instruction::Cmd(CommandForm::Exec(vec!["sh".into()]))
        );
        assert_eq!(d.step_count(), 4);
    }

    #[test]
    fn stages_meta_args_and_copy_flags() {
        let text = "ARG BASE=busybox\nARG TAG\nFROM ${BASE} AS Build\nRUN make\n\
                    FROM scratch\nCOPY --from=build --chown=1:2 --chmod=644 /out/a /out/b /bin/\n\
                    ADD --chown=3 x.tar.gz /\n";
        let d = parse(text).unwrap();
        assert_eq!(
            d.meta_args,
            vec![
                ("BASE".into(), Some("busybox".into())),
                ("TAG".into(), None)
            ]
        );
        assert_eq!(
            d.stages[0].name.as_deref(),
            Some("build"),
            "names are lower-cased"
        );
        assert_eq!(d.stages[0].image, "${BASE}");
        assert_eq!(d.stages[1].image, "scratch");
        assert_eq!(
            d.stages[1].steps[0].instruction,
            Instruction::Copy(Transfer {
                sources: vec!["/out/a".into(), "/out/b".into()],
                dest: "/bin/".into(),
                from: Some("build".into()),
                chown: Some("1:2".into()),
                chmod: Some("644".into()),
            })
        );
        assert!(matches!(
            &d.stages[1].steps[1].instruction,
            Instruction::Add(t) if t.chown.as_deref() == Some("3") && t.from.is_none()
        ));
    }

    #[test]
    fn escape_directive_and_metadata_instructions() {
        let text = "# escape=`\nFROM base\nWORKDIR C:\\app `\n  \\sub\nUSER 1000:1000\n\
                    LABEL a=b \"c d\"=e\nEXPOSE 80/tcp 53/udp\nVOLUME [\"/data\", \"/logs\"]\n\
                    VOLUME /a /b\nSTOPSIGNAL SIGTERM\nSHELL [\"/bin/bash\", \"-c\"]\n\
                    ONBUILD RUN echo triggered\nHEALTHCHECK --interval=5s --retries=2 CMD true\n\
                    HEALTHCHECK NONE\nMAINTAINER someone\nENTRYPOINT exec x\n";
        let d = parse(text).unwrap();
        assert_eq!(d.escape, '`');
        let steps: Vec<&Instruction> = d.stages[0].steps.iter().map(|s| &s.instruction).collect();
        assert_eq!(steps[0], &Instruction::Workdir("C:\\app   \\sub".into()));
        assert_eq!(steps[1], &Instruction::User("1000:1000".into()));
        assert_eq!(
            steps[2],
            &Instruction::Label(vec![
                ("a".into(), "b".into()),
                ("\"c d\"".into(), "e".into())
            ])
        );
        assert_eq!(
            steps[3],
            &Instruction::Expose(vec!["80/tcp".into(), "53/udp".into()])
        );
        assert_eq!(
            steps[4],
            &Instruction::Volume(vec!["/data".into(), "/logs".into()])
        );
        assert_eq!(
            steps[5],
            &Instruction::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(steps[6], &Instruction::Stopsignal("SIGTERM".into()));
        assert_eq!(
            steps[7],
            &Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
        );
        assert_eq!(steps[8], &Instruction::Onbuild("RUN echo triggered".into()));
        assert_eq!(
            steps[9],
            &Instruction::Healthcheck(Healthcheck::Cmd {
                command: shell("true"),
                options: vec![
                    ("interval".into(), "5s".into()),
                    ("retries".into(), "2".into())
                ],
            })
        );
        assert_eq!(steps[10], &Instruction::Healthcheck(Healthcheck::None));
        assert_eq!(steps[11], &Instruction::Maintainer("someone".into()));
        assert_eq!(steps[12], &Instruction::Entrypoint(shell("exec x")));
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("FROM a\n\nFOO bar\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(
            err.to_string()
                .starts_with("dockerfile parse error line 3: "),
            "{err}"
        );
        assert!(
            err.message.to_lowercase().contains("unknown instruction"),
            "{err}"
        );
        let err = parse("FROM a\nENV A=1 B\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("can't find = in \"B\""), "{err}");
        let err = parse("FROM a\nCOPY --bogus=1 x y\n").unwrap_err();
        assert_eq!((err.line, err.message.as_str()), (2, "Unknown flag: bogus"));
        let err = parse("FROM a\nRUN --mount=type=cache,target=/x true\n").unwrap_err();
        assert!(err.message.contains("requires BuildKit"), "{err}");
        let err = parse("FROM a\nONBUILD FROM b\n").unwrap_err();
        assert!(
            err.message.contains("isn't allowed as an ONBUILD trigger"),
            "{err}"
        );
        assert!(parse("# only a comment\n").is_err());
        assert!(parse("RUN x\n").is_err(), "no FROM");
    }
}

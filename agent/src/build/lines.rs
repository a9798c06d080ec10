//! The text rules of Docker's Dockerfile parser that the parsing crate leaves to its caller:
//! logical lines (an instruction continued with the escape character, comment and empty lines
//! inside it dropped, as `Step N/M : ...` shows it) and the word splitting of ENV, LABEL and
//! ARG arguments (quotes kept for the expansion step to remove).

/// The logical line that starts at the beginning of `text`: physical lines joined while a line
/// ends with `escape` (plus optional blanks), which is removed; comment lines and empty lines
/// inside the continuation are skipped. Leading white space of the first line is dropped,
/// that of continuation lines kept, as dockerd does.
pub(crate) fn logical_line(text: &str, escape: char) -> String {
    let mut lines = text.split('\n');
    let first = lines
        .next()
        .unwrap_or("")
        .trim_end_matches('\r')
        .trim_start();
    let (mut line, mut more) = strip_continuation(first, escape);
    while more {
        let Some(next) = lines.next() else { break };
        let next = next.trim_end_matches('\r');
        let trimmed = next.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let (part, again) = strip_continuation(next, escape);
        line.push_str(&part);
        more = again;
    }
    line
}

/// `line` without a trailing `escape` (and blanks after it), and whether there was one.
fn strip_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest.to_string(), true),
        None => (line.to_string(), false),
    }
}

/// Split ENV/LABEL/ARG arguments into words on white space outside quotes, keeping quotes and
/// escapes in the words (dockerd's `parseWords`).
pub(crate) fn split_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        match quote {
            None => {
                if ch.is_whitespace() {
                    if in_word && (blank_ok || !word.is_empty()) {
                        words.push(std::mem::take(&mut word));
                    }
                    in_word = false;
                    blank_ok = false;
                    continue;
                }
                in_word = true;
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    match chars.next() {
                        None => continue,
                        Some(next) => {
                            word.push(ch);
                            word.push(next);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                if ch == escape && q != '\'' {
                    match chars.next() {
                        None => {
                            quote = None;
                            continue;
                        }
                        Some(next) => {
                            word.push(ch);
                            word.push(next);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV and LABEL pairs: `name=value ...`, or the legacy `name value` (one pair, the value the
/// rest of the line). Values keep their quotes for the expansion step.
pub(crate) fn name_values(
    instruction: &str,
    rest: &str,
    escape: char,
) -> Result<Vec<(String, String)>, String> {
    let words = split_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(format!("{instruction} requires at least one argument"));
    };
    if !first.contains('=') {
        let rest = rest.trim();
        let Some(split) = rest.find(char::is_whitespace) else {
            return Err(format!("{instruction} must have two arguments"));
        };
        let (name, value) = rest.split_at(split);
        return Ok(vec![(name.to_string(), value.trim_start().to_string())]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((name, value)) => Ok((name.to_string(), value.to_string())),
            None => Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

/// ARG declarations: `name` or `name=default`, one or more.
pub(crate) fn arg_decls(rest: &str, escape: char) -> Result<Vec<(String, Option<String>)>, String> {
    let words = split_words(rest, escape);
    if words.is_empty() {
        return Err("ARG requires at least one argument".to_string());
    }
    Ok(words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (word, None),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_join_as_dockerd_shows_them() {
        let text = "RUN echo a \\\n  # inner comment\n\n  b && \\  \n  echo c\nCMD x\n";
        assert_eq!(logical_line(text, '\\'), "RUN echo a   b &&   echo c");
        assert_eq!(logical_line("  ENV A=1\nENV B=2", '\\'), "ENV A=1");
        assert_eq!(logical_line("RUN dir `\n  x", '`'), "RUN dir   x");
        assert_eq!(
            logical_line("RUN a \\", '\\'),
            "RUN a ",
            "a continuation at the end"
        );
        assert_eq!(logical_line("RUN a\r\nRUN b", '\\'), "RUN a");
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            split_words("A=1 B=\"two words\"  C='x y'", '\\'),
            ["A=1", "B=\"two words\"", "C='x y'"]
        );
        assert_eq!(split_words("A=a\\ b C", '\\'), ["A=a\\ b", "C"]);
        assert_eq!(split_words("A=\"\" B", '\\'), ["A=\"\"", "B"]);
        assert_eq!(split_words("A=\"a \\\" b\"", '\\'), ["A=\"a \\\" b\""]);
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            name_values("ENV", "A=1 B=\"x y\"", '\\').unwrap(),
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "\"x y\"".to_string())
            ]
        );
        assert_eq!(
            name_values("ENV", "PATH  /a b  c", '\\').unwrap(),
            [("PATH".to_string(), "/a b  c".to_string())]
        );
        assert_eq!(
            name_values("ENV", "A=1 B", '\\').unwrap_err(),
            "Syntax error - can't find = in \"B\". Must be of the form: name=value"
        );
        assert_eq!(
            name_values("ENV", "A", '\\').unwrap_err(),
            "ENV must have two arguments"
        );
        assert_eq!(
            name_values("LABEL", "", '\\').unwrap_err(),
            "LABEL requires at least one argument"
        );
    }

    #[test]
    fn arg_forms() {
        assert_eq!(
            arg_decls("A B=2 C=", '\\').unwrap(),
            [
                ("A".to_string(), None),
                ("B".to_string(), Some("2".to_string())),
                ("C".to_string(), Some(String::new()))
            ]
        );
        assert!(arg_decls(" ", '\\').is_err());
    }
}

//! Docker's word expansion for Dockerfile instructions, as dockerd 20.10's classic builder does it
//! (the shell lexer it shares with BuildKit): `$NAME`, `${NAME}`, `${NAME:-word}`,
//! `${NAME:+word}`, `${NAME:?message}`, single quotes (literal), double quotes (`$` still
//! expands; the escape character escapes `"`, `$` and itself only), and the escape character
//! (`\`, or `` ` `` with the `escape` directive) outside quotes. Quotes are removed.
//!
//! Which instructions expand (ENV, LABEL, ADD, COPY, WORKDIR, EXPOSE, VOLUME, USER, STOPSIGNAL,
//! ARG, and FROM with the ARGs declared before it) is the builder's business; RUN, CMD and
//! ENTRYPOINT are left to the shell in the container.
//!
//! [`expand_word`] gives one string; [`expand_words`] also splits on white space outside quotes
//! (including white space that a variable's value brings), as a shell would.

/// Why a word could not be expanded; the texts are dockerd's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExpandError {
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("missing ':' in substitution")]
    MissingColon,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(char),
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(&'static str),
    /// `${NAME:?message}` with NAME unset or empty.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
}

/// The lexer over one word. `env` answers a variable's value (None: unset).
struct Lexer<'a, F> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: &'a F,
}

/// Collects the words of [`expand_words`]: white space from plain text and variable values
/// separates words, quoted text never does.
#[derive(Default)]
struct Words {
    done: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    /// A character that may split (unquoted text, a variable's value).
    fn split_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.done.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.raw_char(ch);
        }
    }

    fn split_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.split_char(c));
    }

    /// Text that never splits (quoted, escaped).
    fn raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn raw_str(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.done.push(self.word);
        }
        self.done
    }
}

impl<'a, F: Fn(&str) -> Option<String>> Lexer<'a, F> {
    fn new(word: &str, escape: char, env: &'a F) -> Self {
        Lexer {
            chars: word.chars().collect(),
            pos: 0,
            escape,
            env,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Process until `stop` (consumed) or the end; `stop: None` reads to the end.
    fn process_until(&mut self, stop: Option<char>) -> Result<(String, Words), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words));
            }
            match ch {
                '\'' => {
                    let s = self.single_quoted()?;
                    result.push_str(&s);
                    words.raw_str(&s);
                }
                '"' => {
                    let s = self.double_quoted()?;
                    result.push_str(&s);
                    words.raw_str(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.split_str(&s);
                }
                _ => {
                    self.next();
                    if ch == self.escape {
                        // The escape character takes the next one literally; at the very end
                        // it is dropped.
                        let Some(escaped) = self.next() else { break };
                        result.push(escaped);
                        words.raw_char(escaped);
                    } else {
                        result.push(ch);
                        words.split_char(ch);
                    }
                }
            }
        }
        match stop {
            Some('}') => Err(ExpandError::MissingBrace),
            Some(_) => Err(ExpandError::Unterminated("brace")),
            None => Ok((result, words)),
        }
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        self.next();
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(ExpandError::Unterminated("single-quote")),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        self.next();
        let mut out = String::new();
        loop {
            let Some(ch) = self.peek() else {
                return Err(ExpandError::Unterminated("double-quote"));
            };
            match ch {
                '"' => {
                    self.next();
                    return Ok(out);
                }
                '$' => out.push_str(&self.dollar()?),
                _ => {
                    self.next();
                    if ch == self.escape {
                        match self.peek() {
                            // A trailing escape inside an unterminated quote: the quote error
                            // follows.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.next();
                                out.push(n);
                                continue;
                            }
                            // Any other escape stays as it is, with what follows.
                            Some(_) => out.push(ch),
                        }
                    } else {
                        out.push(ch);
                    }
                }
            }
        }
    }

    /// A name: a run of digits, or letters, digits and `_` not starting with a digit.
    fn name(&mut self) -> String {
        let mut name = String::new();
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            while let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
                self.next();
                name.push(c);
            }
            return name;
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            self.next();
            name.push(c);
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{') | Some('}') | Some(':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        match self.next() {
            Some('}') => Ok(self.lookup(&name).unwrap_or_default()),
            Some(':') => {
                let modifier = self.next().ok_or(ExpandError::MissingBrace)?;
                let (word, _) = self.process_until(Some('}'))?;
                let value = self.lookup(&name);
                let set_and_not_empty = value.as_deref().is_some_and(|v| !v.is_empty());
                match modifier {
                    '+' => Ok(if set_and_not_empty {
                        word
                    } else {
                        String::new()
                    }),
                    '-' => Ok(if set_and_not_empty {
                        value.unwrap_or_default()
                    } else {
                        word
                    }),
                    '?' => {
                        if set_and_not_empty {
                            Ok(value.unwrap_or_default())
                        } else {
                            let message = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            Err(ExpandError::Required { name, message })
                        }
                    }
                    other => Err(ExpandError::UnsupportedModifier(other)),
                }
            }
            None => Err(ExpandError::MissingBrace),
            Some(_) => Err(ExpandError::MissingColon),
        }
    }
}

/// Expand `word` into one string, quotes removed. `env` answers a variable's value.
pub(crate) fn expand_word<F>(word: &str, escape: char, env: &F) -> Result<String, ExpandError>
where
    F: Fn(&str) -> Option<String>,
{
    Lexer::new(word, escape, env)
        .process_until(None)
        .map(|(s, _)| s)
}

/// Expand `text` and split it into words on white space outside quotes.
pub(crate) fn expand_words<F>(text: &str, escape: char, env: &F) -> Result<Vec<String>, ExpandError>
where
    F: Fn(&str) -> Option<String>,
{
    Lexer::new(text, escape, env)
        .process_until(None)
        .map(|(_, words)| words.finish())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env() -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<&str, &str> = HashMap::from([
            ("HOME", "/root"),
            ("EMPTY", ""),
            ("SPACED", "a  b c"),
            ("V", "value"),
            ("1", "one"),
        ]);
        move |name| vars.get(name).map(|v| v.to_string())
    }

    fn word(s: &str) -> Result<String, ExpandError> {
        expand_word(s, '\\', &env())
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(word("$HOME/bin").unwrap(), "/root/bin");
        assert_eq!(word("${HOME}bin").unwrap(), "/rootbin");
        assert_eq!(word("$UNSET-x").unwrap(), "-x");
        assert_eq!(word("pre${V}post").unwrap(), "prevaluepost");
        assert_eq!(word("$1x").unwrap(), "onex", "a digit name is digits only");
        assert_eq!(word("cost $ 5").unwrap(), "cost $ 5", "a lone $ stays");
        assert_eq!(word("a$").unwrap(), "a$");
    }

    #[test]
    fn modifiers() {
        // Docker's documented forms: ${variable:-word} and ${variable:+word}.
        assert_eq!(word("${V:-def}").unwrap(), "value");
        assert_eq!(word("${UNSET:-def}").unwrap(), "def");
        assert_eq!(word("${EMPTY:-def}").unwrap(), "def");
        assert_eq!(word("${V:+alt}").unwrap(), "alt");
        assert_eq!(word("${UNSET:+alt}").unwrap(), "");
        assert_eq!(word("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(
            word("${UNSET:-$HOME/x}").unwrap(),
            "/root/x",
            "the word expands"
        );
        assert_eq!(word("${UNSET:-${V:+nested}}").unwrap(), "nested");
        assert_eq!(word("${V:?must be set}").unwrap(), "value");
        assert_eq!(
            word("${UNSET:?must be set}").unwrap_err().to_string(),
            "UNSET: must be set"
        );
    }

    #[test]
    fn substitution_errors_have_dockerds_words() {
        assert_eq!(
            word("${V").unwrap_err().to_string(),
            "syntax error: missing '}'"
        );
        assert_eq!(word("${").unwrap_err(), ExpandError::MissingBrace);
        assert_eq!(
            word("${}").unwrap_err().to_string(),
            "syntax error: bad substitution"
        );
        assert_eq!(word("${:-x}").unwrap_err(), ExpandError::BadSubstitution);
        assert_eq!(
            word("${V-x}").unwrap_err().to_string(),
            "missing ':' in substitution"
        );
        assert_eq!(
            word("${V:=x}").unwrap_err().to_string(),
            "unsupported modifier (=) in substitution"
        );
        assert_eq!(word("${V:-x").unwrap_err(), ExpandError::MissingBrace);
    }

    #[test]
    fn quotes() {
        assert_eq!(
            word("'$HOME'").unwrap(),
            "$HOME",
            "single quotes are literal"
        );
        assert_eq!(word("\"$HOME\"").unwrap(), "/root", "double quotes expand");
        assert_eq!(word("\"a 'b' c\"").unwrap(), "a 'b' c");
        assert_eq!(word("'a \"b\" c'").unwrap(), "a \"b\" c");
        assert_eq!(word("x\"\"y''z").unwrap(), "xyz");
        assert_eq!(
            word("'abc").unwrap_err().to_string(),
            "unexpected end of statement while looking for matching single-quote"
        );
        assert_eq!(
            word("\"abc").unwrap_err().to_string(),
            "unexpected end of statement while looking for matching double-quote"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(word("\\$HOME").unwrap(), "$HOME");
        assert_eq!(word("\\\\").unwrap(), "\\");
        assert_eq!(word("a\\ b").unwrap(), "a b");
        assert_eq!(
            word("end\\").unwrap(),
            "end",
            "a trailing escape is dropped"
        );
        // Inside double quotes only ", $ and the escape itself are escaped.
        assert_eq!(
            word("\"\\$HOME \\\" \\\\ \\n\"").unwrap(),
            "$HOME \" \\ \\n"
        );
        // With `# escape=`` the backtick escapes and a backslash is plain.
        let tick = |s: &str| expand_word(s, '`', &env()).unwrap();
        assert_eq!(tick("C:\\dir\\$V"), "C:\\dir\\value");
        assert_eq!(tick("`$V"), "$V");
    }

    #[test]
    fn words_split_outside_quotes_only() {
        let words = |s: &str| expand_words(s, '\\', &env()).unwrap();
        assert_eq!(words("a b  c"), ["a", "b", "c"]);
        assert_eq!(words("\"a b\" c"), ["a b", "c"]);
        assert_eq!(
            words("$SPACED"),
            ["a", "b", "c"],
            "a variable's value splits"
        );
        assert_eq!(words("\"$SPACED\""), ["a  b c"], "unless quoted");
        assert_eq!(words("a\\ b c"), ["a b", "c"]);
        assert_eq!(words("'' x"), ["x"], "an empty quoted word is no word");
        assert_eq!(words("$EMPTY"), Vec::<String>::new());
        assert_eq!(words("  "), Vec::<String>::new());
    }
}

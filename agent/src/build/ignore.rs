//! `.dockerignore`, with the semantics of dockerd 20.10 (moby's pattern matcher), which differ
//! from `.gitignore`'s:
//!
//! - one pattern a line; a line whose first character is `#` is a comment; white space around a
//!   pattern is trimmed; empty lines are skipped; a UTF-8 byte-order mark is ignored;
//! - patterns are cleaned like paths (`a//b/../c` is `a/c`) and anchored at the context's root
//!   (a leading `/` is dropped): `foo` matches `foo` at the top, not `sub/foo`;
//! - `*` matches within one path component, `?` one character other than `/`, `**` any number of
//!   components (`**/x`, `a/**`, `a/**/b`), `\` escapes the next character; other characters are
//!   taken as they are (moby passes them to its regular expression, so `[a-z]` is a class);
//! - a pattern that matches a directory matches everything below it;
//! - `!pattern` re-includes what an earlier pattern excluded; the last matching pattern wins.

use regex::Regex;

/// A `.dockerignore` file that could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IgnoreError {
    #[error("invalid .dockerignore pattern {pattern:?}: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
}

#[derive(Debug)]
struct Pattern {
    regex: Regex,
    /// How many path components the pattern has (for matching a file's parent directories).
    depth: usize,
    exclusion: bool,
}

/// The patterns of one `.dockerignore`, in order.
#[derive(Debug, Default)]
pub(crate) struct IgnoreRules {
    patterns: Vec<Pattern>,
}

/// Read a `.dockerignore`'s text into its cleaned patterns (`!` kept in front of exclusions).
pub(crate) fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (invert, rest) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let mut pattern = if rest.is_empty() {
            String::new()
        } else {
            clean_path(rest)
        };
        if pattern.len() > 1 && pattern.starts_with('/') {
            pattern.remove(0);
        }
        out.push(if invert {
            format!("!{pattern}")
        } else {
            pattern
        });
    }
    out
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub(crate) fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The regular expression moby builds for one (cleaned) pattern.
fn pattern_regex(pattern: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '.' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => match chars.get(i) {
                Some(next) => {
                    i += 1;
                    re.push('\\');
                    re.push(*next);
                }
                None => re.push_str("\\\\"),
            },
            other => re.push(other),
        }
    }
    re.push('$');
    re
}

impl IgnoreRules {
    /// Compile the patterns of a `.dockerignore` text.
    pub(crate) fn parse(text: &str) -> Result<IgnoreRules, IgnoreError> {
        let mut patterns = Vec::new();
        for raw in read_patterns(text) {
            let (exclusion, pattern) = match raw.strip_prefix('!') {
                Some("") => return Err(IgnoreError::LoneExclamation),
                Some(rest) => (true, rest.to_string()),
                None => (false, raw),
            };
            let regex =
                Regex::new(&pattern_regex(&pattern)).map_err(|e| IgnoreError::BadPattern {
                    pattern: pattern.clone(),
                    reason: e.to_string(),
                })?;
            patterns.push(Pattern {
                regex,
                depth: pattern.split('/').count(),
                exclusion,
            });
        }
        Ok(IgnoreRules { patterns })
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded from the context.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let path = clean_path(path.trim_start_matches('/'));
        let parent = match path.rfind('/') {
            Some(i) => &path[..i],
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut excluded = false;
        for p in &self.patterns {
            let mut matched = p.regex.is_match(&path);
            if !matched && parent != "." && p.depth <= parent_dirs.len() {
                matched = p.regex.is_match(&parent_dirs[..p.depth].join("/"));
            }
            if matched {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(text).unwrap()
    }

    #[test]
    fn reading_skips_comments_and_cleans() {
        let text =
            "\u{feff}# comment\n  \n*/temp*\n/abs/path/\n !keep \na//b/../c\n  # not a comment\n";
        assert_eq!(
            read_patterns(text),
            ["*/temp*", "abs/path", "!keep", "a/c", "# not a comment"]
        );
    }

    #[test]
    fn docker_documentation_examples() {
        // The example of Docker's .dockerignore documentation.
        let r = rules("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        assert!(r.excludes("somedir/temporary.txt"));
        assert!(r.excludes("somedir/temp"));
        assert!(r.excludes("somedir/subdir/temporary.txt"));
        assert!(r.excludes("tempa"));
        assert!(r.excludes("tempb"));
        assert!(
            !r.excludes("temporary.txt"),
            "*/temp* needs one directory level"
        );
        assert!(!r.excludes("a/b/c/temp"));
    }

    #[test]
    fn anchored_at_the_root() {
        let r = rules("foo\n");
        assert!(r.excludes("foo"));
        assert!(
            r.excludes("foo/bar/baz"),
            "a directory's contents go with it"
        );
        assert!(!r.excludes("sub/foo"));
        assert!(rules("/foo").excludes("foo"));
    }

    #[test]
    fn double_star() {
        let r = rules("**/*.go\n");
        assert!(r.excludes("main.go"));
        assert!(r.excludes("a/b/c.go"));
        assert!(!r.excludes("a/b/c.rs"));
        let r = rules("a/**/b\n");
        assert!(r.excludes("a/b"));
        assert!(r.excludes("a/x/y/b"));
        assert!(!r.excludes("a/x/c"));
        assert!(rules("docs/**").excludes("docs/a/b.md"));
    }

    #[test]
    fn last_match_wins_and_exclusions_reinclude() {
        // Docker's documented example: everything markdown but README*.md.
        let r = rules("*.md\n!README*.md\n");
        assert!(r.excludes("CHANGES.md"));
        assert!(!r.excludes("README-secret.md"));
        let r = rules("*.md\n!README*.md\nREADME-secret.md\n");
        assert!(r.excludes("README-secret.md"));
        assert!(!r.excludes("README.md"));
        let r = rules("*\n!keep\n");
        assert!(r.excludes("other"));
        assert!(!r.excludes("keep"));
        assert!(
            !r.excludes("keep/inner"),
            "the parent directory's match re-includes"
        );
    }

    #[test]
    fn single_character_and_escapes() {
        assert!(rules("a?c").excludes("abc"));
        assert!(!rules("a?c").excludes("a/c"));
        assert!(rules("a\\*c").excludes("a*c"));
        assert!(!rules("a\\*c").excludes("abc"));
        assert!(rules("*.txt").excludes("a.txt"));
        assert!(!rules("*.txt").excludes("atxt"), "a dot is a dot");
        assert!(rules("[a-c].log").excludes("b.log"));
    }

    #[test]
    fn bad_patterns() {
        assert!(matches!(
            IgnoreRules::parse("!\n"),
            Err(IgnoreError::LoneExclamation)
        ));
        assert!(matches!(
            IgnoreRules::parse("[unclosed\n"),
            Err(IgnoreError::BadPattern { .. })
        ));
        assert!(rules("").is_empty());
    }

    #[test]
    fn clean_path_is_gos() {
        assert_eq!(clean_path("a//b/./c/.."), "a/b");
        assert_eq!(clean_path("../x"), "../x");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("./"), ".");
        assert_eq!(clean_path("/"), "/");
    }
}

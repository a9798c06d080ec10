//! Image references, normalized exactly as Docker does (`distribution/reference`'s
//! `ParseNormalizedNamed`): `busybox` is `docker.io/library/busybox:latest`, `user/app:1` is
//! `docker.io/user/app:1`, `localhost:5000/a/b` is `localhost:5000/a/b:latest`. The familiar form
//! (`busybox:latest`, `user/app:1`) is what `docker images` shows.

use std::fmt;

use crate::error::{EngineError, Result};
use crate::layers::digest::is_sha256_hex;
use crate::layers::Digest;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A parsed, normalized reference: `domain/path[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse what a user typed into a normalized reference, without adding a default tag.
    pub fn parse_normalized(input: &str) -> Result<Reference> {
        let fail = |reason: &str| EngineError::InvalidReference {
            reference: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(fail("empty reference"));
        }
        if is_sha256_hex(input) {
            return Err(fail(
                "cannot specify 64-byte hexadecimal strings as a repository name",
            ));
        }
        let (domain, remainder) = split_docker_domain(input);
        let remote_name = remainder.split(':').next().unwrap_or(&remainder);
        if remote_name.to_lowercase() != remote_name {
            return Err(fail(&format!(
                "repository name ({remote_name}) must be lowercase"
            )));
        }

        let (name_and_tag, digest) = match remainder.split_once('@') {
            Some((before, digest)) => {
                let digest = Digest::parse(digest).map_err(|e| fail(&e))?;
                (before, Some(digest))
            }
            None => (remainder.as_str(), None),
        };
        let (path, tag) = split_tag(name_and_tag);
        if let Some(tag) = tag {
            if !is_valid_tag(tag) {
                return Err(fail(&format!(
                    "tag {tag:?} must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
                )));
            }
        }
        if !is_valid_domain(&domain) {
            return Err(fail(&format!(
                "registry host {domain:?} is not a valid host[:port]"
            )));
        }
        if path.is_empty() || !path.split('/').all(is_valid_path_component) {
            return Err(fail(
                "repository path components must be lowercase letters and digits, separated by '.', '_', '__' or '-'",
            ));
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(fail("repository name must not be more than 255 characters"));
        }
        Ok(Reference {
            domain,
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Parse and add `:latest` when neither tag nor digest is given (Docker's `TagNameOnly`).
    pub fn parse_with_default_tag(input: &str) -> Result<Reference> {
        Ok(Reference::parse_normalized(input)?.with_default_tag())
    }

    /// Add `:latest` when neither tag nor digest is given.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// Replace the tag (and drop any digest).
    pub fn with_tag(mut self, tag: &str) -> Result<Reference> {
        if !is_valid_tag(tag) {
            return Err(EngineError::InvalidReference {
                reference: format!("{}:{tag}", self.name()),
                reason: format!(
                    "tag {tag:?} must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
                ),
            });
        }
        self.tag = Some(tag.to_string());
        self.digest = None;
        Ok(self)
    }

    /// `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox`, `user/app`, `localhost:5000/a/b`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The familiar form: `busybox:latest`, `user/app:1`, `name@sha256:...`.
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }

    fn render(&self, name: String) -> String {
        let mut out = name;
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest.as_str());
        }
        out
    }
}

/// The normalized form, as stored: `docker.io/library/busybox:latest`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

/// Docker's `splitDockerDomain`: the first component is a registry host when it has a `.` or a
/// `:`, is `localhost`, or has upper-case letters; otherwise the image is on Docker Hub, where
/// one-component names are official images under `library/`.
fn split_docker_domain(input: &str) -> (String, String) {
    let (mut domain, remainder) = match input.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), input.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        return (domain, format!("{OFFICIAL_PREFIX}{remainder}"));
    }
    (domain, remainder)
}

/// Split `path[:tag]`: the tag is after the last `:` that follows the last `/`.
fn split_tag(name_and_tag: &str) -> (&str, Option<&str>) {
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    match name_and_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_and_tag[..last_slash + i],
            Some(&name_and_tag[last_slash + i + 1..]),
        ),
        None => (name_and_tag, None),
    }
}

/// `[\w][\w.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__", or one or more "-".
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]` where host is dotted `[A-Za-z0-9-]` labels or a bracketed IPv6 address.
fn is_valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after.strip_prefix(':') {
            Some(port) => ("", Some(port)),
            None if after.is_empty() => ("", None),
            None => return false,
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if domain.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(input: &str) -> (String, String) {
        let r = Reference::parse_with_default_tag(input).unwrap();
        (r.to_string(), r.familiar())
    }

    #[test]
    fn normalizes_like_docker() {
        let cases = [
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            ("user/app:1", "docker.io/user/app:1", "user/app:1"),
            (
                "docker.io/user/app",
                "docker.io/user/app:latest",
                "user/app:latest",
            ),
            (
                "index.docker.io/library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            (
                "localhost:5000/a/b",
                "localhost:5000/a/b:latest",
                "localhost:5000/a/b:latest",
            ),
            (
                "localhost/foo",
                "localhost/foo:latest",
                "localhost/foo:latest",
            ),
            (
                "localhost:5000",
                "docker.io/library/localhost:5000",
                "localhost:5000",
            ),
            (
                "quay.io/org/x:v1.2-rc_3",
                "quay.io/org/x:v1.2-rc_3",
                "quay.io/org/x:v1.2-rc_3",
            ),
            ("Registry/app", "Registry/app:latest", "Registry/app:latest"),
            ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
            (
                "a__b/c--d/e.f_g",
                "docker.io/a__b/c--d/e.f_g:latest",
                "a__b/c--d/e.f_g:latest",
            ),
            (
                "strata-test/multi:1",
                "docker.io/strata-test/multi:1",
                "strata-test/multi:1",
            ),
        ];
        for (input, full, familiar) in cases {
            assert_eq!(
                norm(input),
                (full.to_string(), familiar.to_string()),
                "{input}"
            );
        }
    }

    #[test]
    fn digest_references_keep_their_digest_and_get_no_tag() {
        let hex = "a".repeat(64);
        let r = Reference::parse_with_default_tag(&format!("busybox@sha256:{hex}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().hex(), hex);
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox@sha256:{hex}")
        );
        assert_eq!(r.familiar(), format!("busybox@sha256:{hex}"));
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let long_tag = format!("busybox:{}", "t".repeat(129));
        let bad = [
            "",
            "Busybox",
            "user/App",
            &"f".repeat(64),
            "busybox:latest:x",
            "busybox:.hidden",
            "busybox:-x",
            &long_tag,
            "a___b",
            "a-",
            "-a",
            "a//b",
            "a/",
            "busybox@sha256:abc",
            "busybox@md5:0123456789abcdef0123456789abcdef",
            "bad host!/x",
            "localhost:port/x",
        ];
        for input in bad {
            let err = Reference::parse_normalized(input).expect_err(input);
            assert!(
                matches!(err, EngineError::InvalidReference { .. }),
                "{input}: {err}"
            );
        }
        let err = Reference::parse_normalized("Busybox")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be lowercase"), "{err}");
    }

    #[test]
    fn tag_rule_is_docker_s() {
        assert!(is_valid_tag("latest"));
        assert!(is_valid_tag("_x"));
        assert!(is_valid_tag("1.0-rc.1_a"));
        assert!(is_valid_tag(&"t".repeat(128)));
        assert!(!is_valid_tag(&"t".repeat(129)));
        assert!(!is_valid_tag(""));
        assert!(!is_valid_tag("a/b"));
    }
}

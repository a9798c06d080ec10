//! Container names: validation of user-given names and Docker-style generated ones
//! (`adjective_surname`).

use rand::seq::SliceRandom;

use crate::error::{EngineError, Result};

/// Adjectives for generated names (our own list).
const ADJECTIVES: &[&str] = &[
    "amber", "brave", "breezy", "calm", "candid", "clever", "cosmic", "curious", "daring",
    "dapper", "eager", "earnest", "fearless", "festive", "gentle", "glad", "graceful", "hardy",
    "humble", "jovial", "keen", "kind", "lively", "lucid", "merry", "mellow", "nimble", "noble",
    "patient", "plucky", "quiet", "radiant", "rapid", "serene", "sincere", "steady", "sunny",
    "swift", "tidy", "upbeat", "vivid", "warm", "witty", "zesty",
];

/// Surnames of scientists and engineers for generated names (our own list).
const SURNAMES: &[&str] = &[
    "agnesi",
    "archimedes",
    "babbage",
    "bohr",
    "boole",
    "cantor",
    "carson",
    "curie",
    "darwin",
    "dirac",
    "euclid",
    "euler",
    "faraday",
    "fermi",
    "franklin",
    "galileo",
    "gauss",
    "goodall",
    "hamilton",
    "hodgkin",
    "hopper",
    "hubble",
    "hypatia",
    "kepler",
    "lamarr",
    "leavitt",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "newton",
    "noether",
    "pascal",
    "planck",
    "ramanujan",
    "ritchie",
    "sagan",
    "shannon",
    "tesla",
    "thompson",
    "turing",
    "volta",
    "wilkes",
];

/// Check a user-given name against Docker's rule `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$` and return it
/// without the leading `/`.
pub(crate) fn validate(raw: &str) -> Result<String> {
    let name = raw.strip_prefix('/').unwrap_or(raw);
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest: Vec<u8> = bytes.collect();
    let rest_ok = !rest.is_empty()
        && rest
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok {
        Ok(name.to_string())
    } else {
        Err(EngineError::InvalidArgument(format!(
            "Invalid container name ({raw}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// A random `adjective_surname`; after a few collisions a digit is appended, as Docker does.
pub(crate) fn generate(attempt: usize) -> String {
    let mut rng = rand::thread_rng();
    let adjective = ADJECTIVES.choose(&mut rng).copied().unwrap_or("quiet");
    let surname = SURNAMES.choose(&mut rng).copied().unwrap_or("turing");
    if attempt < 5 {
        format!("{adjective}_{surname}")
    } else {
        format!("{adjective}_{surname}{}", attempt)
    }
}

/// A fresh container id: 32 random bytes as 64 hex characters.
pub(crate) fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_rule() {
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        assert_eq!(validate("a.b_c").unwrap(), "a.b_c");
        assert!(
            validate("x").is_err(),
            "one character is too short for Docker's rule"
        );
        assert!(validate("-x").is_err());
        assert!(validate("a/b").is_err());
        assert!(validate("").is_err());
    }

    #[test]
    fn generated_names_are_valid() {
        for attempt in 0..10 {
            let name = generate(attempt);
            assert_eq!(validate(&name).unwrap(), name);
        }
        let id = random_id();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

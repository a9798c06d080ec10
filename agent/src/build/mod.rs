//! The Dockerfile builder (`docker build`, classic builder semantics), growing in pieces:
//! so far reading a Dockerfile into stages and steps (`dockerfile`, with `lines` for the text
//! rules the parsing crate leaves to us) and the two rule sets every step leans on, Docker's word
//! expansion (`expand`) and `.dockerignore` matching (`ignore`). The steps themselves (a
//! container layer on the parent, RUN through the runtime, the diff committed as a layer) come
//! with the builder service.
// Only `docker commit/import --change` use the parser and the config editor so far; the
// builder that uses the rest lands with the engine's services (issue 14), and until then their
// unit tests exercise them.
#![allow(dead_code)]

pub(crate) mod dockerfile;
pub(crate) mod expand;
pub(crate) mod ignore;
mod lines;
pub(crate) mod metadata;

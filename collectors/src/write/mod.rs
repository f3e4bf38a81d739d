//! Writes facts back out as a capture directory (`capture-format.md`), each
//! file in the format the standard tool prints, so that `eval --capture`
//! reads it back to the same findings.

pub mod cluster;
pub mod host;

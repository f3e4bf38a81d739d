//! The collectors' one error type: what went wrong and where in the source.
//! Messages read as "place: cause" and never repeat the file name: the caller
//! reports the file as the error's source.

use thiserror::Error;

/// A parse or read failure. Messages read as "place: cause" and never repeat
/// the file name: the caller reports the file as the error's source.
#[derive(Debug, Error)]
pub enum ParseError {
    /// The text is not valid JSON.
    #[error("line {line} column {column}: invalid JSON: {message}")]
    Json { line: usize, column: usize, message: String },
    /// The text is not valid YAML.
    #[error("{location}invalid YAML: {message}")]
    Yaml { location: String, message: String },
    /// Valid JSON/YAML whose shape is not what the tool prints.
    #[error("{path}: expected {expected}")]
    Shape { path: String, expected: String },
    /// A line of a line-oriented format that does not parse.
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    /// The file could not be read.
    #[error("reading: {0}")]
    Io(#[from] std::io::Error),
    /// Entries of a file that could not be read (a cap of them, then a count).
    #[error("{0}")]
    Entries(String),
    /// The path cannot be read as a file: not a regular file, too large, a symlink loop, not UTF-8.
    #[error("{0}")]
    File(String),
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        let mut message = e.to_string();
        if let Some(i) = message.rfind(" at line ") {
            message.truncate(i);
        }
        ParseError::Json { line: e.line(), column: e.column(), message }
    }
}

impl From<serde_yaml::Error> for ParseError {
    fn from(e: serde_yaml::Error) -> Self {
        let location = e.location().map(|l| format!("line {} column {}: ", l.line(), l.column())).unwrap_or_default();
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        ParseError::Yaml { location, message }
    }
}

/// Shorthand for a shape error.
pub fn shape(path: impl Into<String>, expected: impl Into<String>) -> ParseError {
    ParseError::Shape { path: path.into(), expected: expected.into() }
}

/// Shorthand for a line error.
pub fn line(line: usize, message: impl Into<String>) -> ParseError {
    ParseError::Line { line, message: message.into() }
}

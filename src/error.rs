//! The library's error type.
//!
//! Every error names the file it is about and, where one exists, the most
//! specific location (`function+0x12`, `section+0x40`, `line 7`). Errors own
//! their rendered text so they can leave the pass that produced them. The
//! binary maps every error to exit code 2.

use std::fmt;

/// What kind of failure an [`Error`] is. Tests match on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing a file failed.
    Io,
    /// The input is not a well-formed ELF object (or text file) of its kind.
    Malformed,
    /// The input is valid but uses something klpwrite does not support.
    Unsupported,
    /// A symbol could not be found, or could not be resolved unambiguously.
    Symbol,
    /// The request violates a kernel rule (name limits, forbidden references).
    Klp,
    /// The patch cannot be made safely (changed data, init code, ...).
    Refused,
    /// Bad command-line usage or a bad argument value.
    Usage,
}

/// A klpwrite error: a kind, the file, an optional location, the message and
/// an optional hint that tells the user what to do.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    file: Option<String>,
    location: Option<String>,
    message: String,
    hint: Option<String>,
}

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            file: None,
            location: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Shorthand for a [`ErrorKind::Malformed`] error.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, message)
    }

    /// Shorthand for a [`ErrorKind::Unsupported`] error.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Attach the file this error is about (kept if one is already set).
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }

    /// Attach a location inside the file (kept if one is already set).
    pub fn at(mut self, location: impl Into<String>) -> Self {
        if self.location.is_none() {
            self.location = Some(location.into());
        }
        self
    }

    /// Attach advice for the user.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without file, location or hint.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Render bytes (symbol or section names) for humans; non-UTF-8 bytes are
/// escaped so that no name can make output ambiguous.
pub fn show(name: &[u8]) -> String {
    let mut s = String::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                s.extend(c.escape_default());
            } else {
                s.push(c);
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

//! The `.gal` language front end: lexing, parsing, the syntax tree.
//!
//! Architecture invariant: this crate does no I/O and never panics on any
//! input. [`parse`] takes source text and returns a syntax tree together
//! with its [`Diagnostic`]s (a statement with a syntax error is a broken
//! node in the tree); it knows nothing about NF crates, placement or eBPF.
//! [`format`] gives the canonical layout of a file that parses, comments
//! kept.

pub mod ast;
pub mod diagnostic;
mod editing;
mod format;
mod lexer;
mod parse;

pub use diagnostic::{Diagnostic, FileId, Label, Severity};
pub use editing::{is_name, statement_before};
pub use format::{FormatError, MAX_WIDTH, format};
pub use lexer::Token;
pub use parse::{Parsed, parse};

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl From<Span> for std::ops::Range<usize> {
    fn from(span: Span) -> Self {
        span.start..span.end
    }
}

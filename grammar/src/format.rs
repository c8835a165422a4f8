//! `galettec fmt`: the canonical layout of a `.gal` file.
//!
//! The formatter reads the parser's tokens together with the comments the
//! parser skips, cuts them into statements along the spans of the syntax
//! tree, lays each statement out on its own, aligns runs of declarations,
//! and finally checks its own work: the result must parse to the same tree
//! (spans aside) and hold the same comments, or the source is left alone.
//!
//! The style, also described in docs/language.md ("Formatting"):
//!
//! - one statement per line; tokens separated by one space, except none
//!   before `,` `:` `.` `<` `>` `[` `]` and none after `.` `<` `[` `!` `@`;
//! - a `{ ... }` block (bindings or fan-out) stays on one line,
//!   `{ a: b, c: d }`, unless it was written with a line break after `{`,
//!   holds a comment that needs a line of its own, or would make the line
//!   longer than [`MAX_WIDTH`]; then it has one entry per line, indented by
//!   four spaces, each ending in `,`. An empty block is `{}`;
//! - in a run of `nf` declarations on consecutive lines, the `=` signs line
//!   up, and so do the `{` of those that have bindings; in a run of `map`
//!   declarations the kinds line up;
//! - comments stay where they were relative to the tokens around them;
//!   comments ending consecutive lines line up one space after the longest
//!   line;
//! - blank lines between statements are kept, runs of them become one; no
//!   blank line at the start or end, no trailing whitespace, `\n` line
//!   endings, one `\n` at the end of the file, no byte order mark.
//!
//! Architecture invariant: like [`parse`](crate::parse), [`format`] does no
//! I/O and never panics; a file with syntax errors is never rewritten.

mod align;
mod lines;
mod statement;
mod units;
mod verify;

use self::statement::Plan;
use self::units::{Unit, UnitKind};
use crate::{Diagnostic, FileId};

/// The widest a line may get by putting a block on it; wider blocks take one
/// line per entry. Alignment padding does not count.
pub const MAX_WIDTH: usize = 100;

/// Why a file was not formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The file does not parse: these are the parser's diagnostics.
    Syntax(Vec<Diagnostic>),
    /// The formatted text would not parse to the same tree, or would lose a
    /// comment: a bug in the formatter, which then leaves the file as it is.
    Bug(String),
}

/// The canonical layout of the chain in `source`. `file` is the id the
/// parse diagnostics point into, as for [`parse`](crate::parse).
pub fn format(source: &str, file: FileId) -> Result<String, FormatError> {
    let chain = crate::parse(source, file).into_result().map_err(FormatError::Syntax)?;
    let units: Vec<Unit<'_, Plan<'_>>> = units::split(source, &chain)?
        .into_iter()
        .map(|unit| unit.map_statement(|statement| statement::plan(&statement)))
        .collect();
    let pads = align::declaration_pads(&units);
    let mut writer = lines::LineWriter::default();
    for unit in &units {
        let blank_before = unit.newlines_before >= 2;
        match &unit.kind {
            UnitKind::Statement(plan) => {
                writer.start_line(0, blank_before);
                plan.write(&pads, &mut writer);
            }
            // A comment after the end of a statement stays on its line.
            UnitKind::Comment(comment) if unit.newlines_before == 0 && !writer.is_empty() => {
                writer.push_comment(1, &comment.text)
            }
            UnitKind::Comment(comment) => {
                writer.start_line(0, blank_before);
                writer.push_comment(0, &comment.text);
            }
        }
    }
    let formatted = writer.finish();
    verify::same_chain_and_comments(source, &chain, &formatted)?;
    Ok(formatted)
}

//! Lining up runs of declarations: the `=` (and the `{` of the bindings) of
//! `nf` declarations on consecutive lines, the kinds of `map` declarations.
//!
//! A run is a sequence of declarations of one kind on consecutive lines,
//! each on one line with no comment inside: a blank line, another
//! statement or a comment on a line of its own ends it. A comment after a
//! declaration on its line does not.

use std::collections::BTreeMap;

use super::statement::Plan;
use super::units::{StatementKind, Unit, UnitKind};

/// Spaces to add before a token, by the token's offset in the source.
pub(super) type Pads = BTreeMap<usize, usize>;

/// A column a declaration lines up: the token that starts it, and the width
/// of what comes before it on the line from the last column (the name of an
/// nf, `NAME:` of a map, an nf's source).
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    /// Source offset of the token padded to reach the column.
    pub before: usize,
    pub width: usize,
}

/// The columns of one declaration.
#[derive(Debug, Clone, Copy)]
pub(super) struct Columns {
    pub kind: StatementKind,
    /// After the name: an nf's `=`, a map's kind.
    pub first: Column,
    /// After an nf's source: the `{` of its bindings, when it has some.
    pub second: Option<Column>,
}

/// The padding that lines up every run of declarations.
pub(super) fn declaration_pads(units: &[Unit<'_, Plan<'_>>]) -> Pads {
    let mut pads = Pads::new();
    let mut run: Vec<Columns> = Vec::new();
    for unit in units {
        let own_line_comment = matches!(unit.kind, UnitKind::Comment(_)) && unit.newlines_before > 0;
        if unit.newlines_before >= 2 || own_line_comment {
            pad_run(&mut run, &mut pads);
        }
        let UnitKind::Statement(plan) = &unit.kind else { continue };
        match plan.columns() {
            Some(columns) if run.first().is_none_or(|first| first.kind == columns.kind) => run.push(columns),
            Some(columns) => {
                pad_run(&mut run, &mut pads);
                run.push(columns);
            }
            None => pad_run(&mut run, &mut pads),
        }
    }
    pad_run(&mut run, &mut pads);
    pads
}

/// Pads the declarations of `run` to its widest, and empties it.
fn pad_run(run: &mut Vec<Columns>, pads: &mut Pads) {
    let first_width = run.iter().map(|columns| columns.first.width).max().unwrap_or(0);
    let second_width = run.iter().filter_map(|columns| columns.second).map(|column| column.width).max().unwrap_or(0);
    for columns in run.drain(..) {
        let mut pad = |column: Column, width: usize| {
            if width > column.width {
                pads.insert(column.before, width - column.width);
            }
        };
        pad(columns.first, first_width);
        if let Some(second) = columns.second {
            pad(second, second_width);
        }
    }
}

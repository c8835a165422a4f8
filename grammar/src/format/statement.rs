//! Laying out one statement: the space between its tokens, its `{ ... }`
//! block on one line or one entry per line, and the comments inside it.
//!
//! A line break is only ever added inside a block, or where the source had
//! one next to a comment; elsewhere line breaks are removed. Either way the
//! parser's statement splitter cuts the result where it cut the source. It
//! starts a statement at a name that begins a line outside braces after a
//! token that does not ask for more; inside a statement, the only names
//! after such a token are those after `chain`, `iface`, `map` and `nf`,
//! which had no line break before them (the file parsed) and get none.

use super::MAX_WIDTH;
use super::align::{Column, Columns, Pads};
use super::lines::LineWriter;
use super::units::{Piece, Statement, StatementKind};
use crate::lexer::Token;

/// Spaces that indent one level: the entries of a block, and the further
/// lines of a statement.
const INDENT: usize = 4;

/// A `{ ... }` of a statement: bindings or a fan-out.
#[derive(Debug, Clone, Copy)]
struct Block {
    /// Index of the `{` in the pieces.
    open: usize,
    /// Index of the `}`.
    close: usize,
    /// One entry per line.
    multiline: bool,
}

/// A statement with its layout decided, ready to write.
#[derive(Debug, Clone)]
pub(super) struct Plan<'src> {
    kind: StatementKind,
    /// The statement's pieces, with the trailing comma of each block added
    /// or removed as its layout wants.
    pieces: Vec<Piece<'src>>,
    blocks: Vec<Block>,
}

/// Decides the layout of `statement`: a block goes on one line unless
/// something forces it apart (see [`must_break`]) or the line would get
/// wider than [`MAX_WIDTH`].
pub(super) fn plan<'src>(statement: &Statement<'src>) -> Plan<'src> {
    let pieces = &statement.pieces;
    let mut blocks = find_blocks(pieces);
    for block in &mut blocks {
        block.multiline = must_break(pieces, block);
    }
    let one_line = with_commas(statement.kind, pieces, &blocks);
    let mut scratch = LineWriter::default();
    let closing_lines = one_line.write(&Pads::new(), &mut scratch);
    for (block, line) in blocks.iter_mut().zip(closing_lines) {
        let has_entries = block.close > block.open + 1;
        block.multiline |= has_entries && scratch.width(line) > MAX_WIDTH;
    }
    with_commas(statement.kind, pieces, &blocks)
}

impl Plan<'_> {
    /// The columns this statement lines up with its neighbours, when it is
    /// a declaration that takes one line and holds no comment.
    pub fn columns(&self) -> Option<Columns> {
        if self.pieces.iter().any(Piece::is_comment) || self.blocks.iter().any(|block| block.multiline) {
            return None;
        }
        let pieces = &self.pieces;
        match self.kind {
            // `map NAME: KIND...`: the kinds line up.
            StatementKind::Map => {
                let kind = pieces.get(3)?;
                Some(Columns {
                    kind: self.kind,
                    first: Column { before: kind.span.start, width: pieces.get(1)?.width() + 1 },
                    second: None,
                })
            }
            // `nf NAME = SOURCE { ... }`: the `=` line up, and the `{`.
            StatementKind::Nf => {
                let equals = pieces.get(2)?;
                // `"PATH"` is one token, `std.NAME` three.
                let source_end = if matches!(pieces.get(3)?.token(), Some(Token::Str(_))) { 4 } else { 6 };
                let source_width = pieces.get(3..source_end)?.iter().map(Piece::width).sum();
                let second = pieces
                    .get(source_end)
                    .filter(|piece| piece.is(&Token::LBrace))
                    .map(|brace| Column { before: brace.span.start, width: source_width });
                Some(Columns {
                    kind: self.kind,
                    first: Column { before: equals.span.start, width: pieces.get(1)?.width() },
                    second,
                })
            }
            StatementKind::Header | StatementKind::Iface | StatementKind::Link => None,
        }
    }

    /// Writes the statement from the start of a line. `pads` adds spaces
    /// before some tokens (alignment). Returns, for each block, the index
    /// of the line its `}` is on.
    pub fn write(&self, pads: &Pads, out: &mut LineWriter) -> Vec<usize> {
        let mut closing_lines = Vec::new();
        let mut state = State::default();
        for (index, piece) in self.pieces.iter().enumerate() {
            let spaces = match index.checked_sub(1).and_then(|i| self.pieces.get(i)) {
                Some(previous) => self.separate(pads, previous, index, &mut state, out),
                None => 0,
            };
            if piece.is_comment() {
                out.push_comment(spaces, &piece.text);
            } else {
                out.push_code(spaces, &piece.text);
            }
            self.after(index, &mut state, out.indent());
            if self.blocks.iter().any(|block| block.close == index) {
                closing_lines.push(out.line_index());
            }
        }
        closing_lines
    }

    /// Decides what goes between `previous` and the piece at `index`: starts
    /// a new line (with its indentation) and returns 0, or returns the
    /// spaces to put.
    fn separate(
        &self,
        pads: &Pads,
        previous: &Piece<'_>,
        index: usize,
        state: &mut State,
        out: &mut LineWriter,
    ) -> usize {
        let Some(next) = self.pieces.get(index) else { return 0 };
        let closes_multiline = self.blocks.iter().any(|block| block.multiline && block.close == index);
        state.pending_break |= closes_multiline;
        let source_newlines = next.newlines_before;
        let line_break = if previous.is_line_comment() {
            true
        } else if state.in_one_line_block {
            // `must_break` found no comment in it that needs a line break.
            false
        } else if next.is_comment() {
            // A comment stays on the line it was on, or on a line of its own.
            source_newlines > 0
        } else if previous.is_comment() {
            state.pending_break || source_newlines > 0
        } else {
            state.pending_break
        };
        if line_break {
            let indent = if closes_multiline {
                state.block_indent
            } else if state.in_multiline {
                state.block_indent + if state.at_entry_start { INDENT } else { 2 * INDENT }
            } else {
                INDENT
            };
            // Blank lines between the entries of a block stay, as between
            // statements.
            let blank = state.in_multiline && state.breaks_in_block > 0 && source_newlines >= 2 && !closes_multiline;
            out.start_line(indent, blank);
            state.pending_break = false;
            state.breaks_in_block += 1;
            0
        } else {
            let spaces = match (previous.token(), next.token()) {
                (Some(before), Some(after)) => spaces_between(before, after),
                _ => 1,
            };
            spaces + pads.get(&next.span.start).copied().unwrap_or(0)
        }
    }

    /// Updates `state` after the piece at `index` is written on a line
    /// indented by `indent`.
    fn after(&self, index: usize, state: &mut State, indent: usize) {
        let Some(token) = self.pieces.get(index).and_then(Piece::token) else { return };
        match token {
            Token::LBrace => {
                let multiline = self.blocks.iter().any(|block| block.multiline && block.open == index);
                *state = if multiline {
                    State {
                        in_multiline: true,
                        pending_break: true,
                        at_entry_start: true,
                        block_indent: indent,
                        ..State::default()
                    }
                } else {
                    State { in_one_line_block: true, ..State::default() }
                };
            }
            Token::Comma if state.in_multiline => {
                state.pending_break = true;
                state.at_entry_start = true;
            }
            Token::RBrace => *state = State::default(),
            _ => state.at_entry_start = false,
        }
    }
}

/// Where the writing of a statement is.
#[derive(Debug, Default)]
struct State {
    /// Inside a block laid out on one line.
    in_one_line_block: bool,
    /// Inside a block laid out one entry per line.
    in_multiline: bool,
    /// The next token must start a line: after the `{` or a `,` of such a
    /// block, before its `}`. Comments on the same line in the source come
    /// first.
    pending_break: bool,
    /// No token of the current entry is written yet.
    at_entry_start: bool,
    /// Line breaks written since the block opened.
    breaks_in_block: usize,
    /// The indentation of the line the block opened on: its `}` goes
    /// there, its entries one level deeper.
    block_indent: usize,
}

/// Spaces between two tokens on one line.
fn spaces_between(before: &Token<'_>, after: &Token<'_>) -> usize {
    use Token::*;
    match (before, after) {
        (_, Comma | Colon | Dot | LAngle | RAngle | LBracket | RBracket) => 0,
        (Dot | LAngle | LBracket | Bang | At, _) => 0,
        (LBrace, RBrace) => 0,
        _ => 1,
    }
}

/// The `{ ... }` of the statement. The grammar has no nested braces, and a
/// file that parses closes every brace it opens.
fn find_blocks(pieces: &[Piece<'_>]) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open = None;
    for (index, piece) in pieces.iter().enumerate() {
        if piece.is(&Token::LBrace) {
            open = Some(index);
        } else if piece.is(&Token::RBrace)
            && let Some(open) = open.take()
        {
            blocks.push(Block { open, close: index, multiline: false });
        }
    }
    blocks
}

/// Whether a block must take one line per entry whatever its width: it was
/// written with a line break after `{` (the writer's choice is kept), or a
/// comment in it needs a line of its own or spans lines. An empty block is
/// always `{}`.
fn must_break(pieces: &[Piece<'_>], block: &Block) -> bool {
    let Some(inside) = pieces.get(block.open + 1..block.close) else { return false };
    let Some(first) = inside.first() else { return false };
    let newline_around = |index: usize| {
        let after = pieces.get(index + 1).is_some_and(|next| next.newlines_before > 0);
        pieces[index].newlines_before > 0 || after
    };
    first.newlines_before > 0
        || (block.open + 1..block.close).any(|index| {
            let piece = &pieces[index];
            piece.is_comment() && (piece.is_line_comment() || piece.is_multiline_comment() || newline_around(index))
        })
}

/// The pieces with each block's trailing comma as its layout wants: a block
/// on one line has none, a block with one entry per line ends every entry
/// with one.
fn with_commas<'src>(kind: StatementKind, pieces: &[Piece<'src>], blocks: &[Block]) -> Plan<'src> {
    let mut out: Vec<Piece<'src>> = Vec::with_capacity(pieces.len() + 1);
    let mut placed = Vec::with_capacity(blocks.len());
    let mut open_at = 0;
    for (index, piece) in pieces.iter().enumerate() {
        if blocks.iter().any(|block| block.open == index) {
            open_at = out.len();
        }
        if let Some(block) = blocks.iter().find(|block| block.close == index) {
            placed.push(Block { open: open_at, close: out.len(), multiline: block.multiline });
        }
        let Some(block) = blocks.iter().find(|block| last_token(pieces, block) == Some(index)) else {
            out.push(piece.clone());
            continue;
        };
        let is_comma = piece.is(&Token::Comma);
        if is_comma && !block.multiline {
            continue;
        }
        out.push(piece.clone());
        if !is_comma && block.multiline {
            out.push(Piece::added_comma(piece.span.end));
        }
    }
    Plan { kind, pieces: out, blocks: placed }
}

/// The index of the last token inside `block`, if it has any.
fn last_token(pieces: &[Piece<'_>], block: &Block) -> Option<usize> {
    (block.open + 1..block.close).rev().find(|&index| pieces.get(index).is_some_and(|piece| !piece.is_comment()))
}

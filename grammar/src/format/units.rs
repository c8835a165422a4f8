//! Cutting a parsed file into what the formatter lays out: statements (with
//! the comments inside them) and the comments between statements.
//!
//! The cuts follow the spans of the syntax tree, not a second statement
//! splitter, so they are the parser's own: a statement runs from its first
//! token to its last, and a comment between two statements belongs to
//! neither.

use std::borrow::Cow;

use super::FormatError;
use crate::Span;
use crate::ast::{ChainFile, Item};
use crate::lexer::{Lexeme, Token, lex_keeping_comments};

/// A token or a comment, with its text.
#[derive(Debug, Clone)]
pub(super) struct Piece<'src> {
    pub span: Span,
    pub lexeme: Lexeme<'src>,
    /// A token as written; a comment without trailing whitespace on any of
    /// its lines (see [`comment_text`]).
    pub text: Cow<'src, str>,
    /// Line breaks in the source between the piece before this one and
    /// this one. Counted before the formatter adds or removes a comma, so
    /// that a comment knows whether it had a line of its own.
    pub newlines_before: usize,
}

impl<'src> Piece<'src> {
    /// A `,` the formatter adds after the last entry of a block laid out one
    /// entry per line; placed, empty, at the end of that entry.
    pub fn added_comma(at: usize) -> Piece<'src> {
        Piece {
            span: Span::new(at, at),
            lexeme: Lexeme::Token(Token::Comma),
            text: Cow::Borrowed(","),
            newlines_before: 0,
        }
    }

    pub fn token(&self) -> Option<&Token<'src>> {
        match &self.lexeme {
            Lexeme::Token(token) => Some(token),
            Lexeme::LineComment | Lexeme::BlockComment => None,
        }
    }

    pub fn is(&self, token: &Token<'_>) -> bool {
        self.token() == Some(token)
    }

    pub fn is_comment(&self) -> bool {
        self.token().is_none()
    }

    pub fn is_line_comment(&self) -> bool {
        self.lexeme == Lexeme::LineComment
    }

    /// Whether this comment cannot share its line with what follows it, or
    /// spreads over several lines.
    pub fn is_multiline_comment(&self) -> bool {
        self.is_comment() && self.text.contains('\n')
    }

    /// Width in characters, as a reader counts columns.
    pub fn width(&self) -> usize {
        self.text.chars().count()
    }
}

/// What a statement is, for the rules that depend on it (alignment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatementKind {
    Header,
    Iface,
    Map,
    Nf,
    Link,
}

/// One statement: its tokens and the comments between them.
#[derive(Debug, Clone)]
pub(super) struct Statement<'src> {
    pub kind: StatementKind,
    pub pieces: Vec<Piece<'src>>,
}

/// A statement or a comment between statements. `S` is what the statement
/// is at this stage: its [`Statement`], then its plan.
#[derive(Debug, Clone)]
pub(super) struct Unit<'src, S> {
    /// Line breaks in the source between the previous unit and this one:
    /// 0 on the same line, 2 or more after a blank line.
    pub newlines_before: usize,
    pub kind: UnitKind<'src, S>,
}

#[derive(Debug, Clone)]
pub(super) enum UnitKind<'src, S> {
    Statement(S),
    /// A comment outside every statement: on a line of its own, or after
    /// the end of a statement.
    Comment(Piece<'src>),
}

impl<'src, S> Unit<'src, S> {
    /// The same unit with its statement turned into something else.
    pub fn map_statement<T>(self, f: impl FnOnce(S) -> T) -> Unit<'src, T> {
        let kind = match self.kind {
            UnitKind::Statement(statement) => UnitKind::Statement(f(statement)),
            UnitKind::Comment(comment) => UnitKind::Comment(comment),
        };
        Unit { newlines_before: self.newlines_before, kind }
    }
}

/// Cuts `source`, which parsed to `chain`, into units in source order.
pub(super) fn split<'src>(
    source: &'src str,
    chain: &ChainFile,
) -> Result<Vec<Unit<'src, Statement<'src>>>, FormatError> {
    let lexemes = lex_keeping_comments(source).map_err(|_| bug("the lexer fails on a file that parses"))?;
    let mut statements = statement_spans(chain, &lexemes)?.into_iter().peekable();
    let mut units = Vec::new();
    let mut open: Option<(Span, Unit<'src, Statement<'src>>)> = None;
    let mut previous_end = 0;
    for (span, lexeme) in lexemes {
        let newlines_before = source.get(previous_end..span.start).map_or(0, |gap| gap.matches('\n').count());
        previous_end = span.end;
        let piece = Piece { span, text: text_of(source, span, &lexeme), lexeme, newlines_before };
        if let Some((statement_span, _)) = &open
            && span.start >= statement_span.end
        {
            units.extend(open.take().map(|(_, unit)| unit));
        }
        if open.is_none()
            && let Some((statement_span, kind)) =
                statements.next_if(|(statement_span, _)| statement_span.start == span.start)
        {
            let unit = Unit { newlines_before, kind: UnitKind::Statement(Statement { kind, pieces: Vec::new() }) };
            open = Some((statement_span, unit));
        }
        match &mut open {
            Some((_, Unit { kind: UnitKind::Statement(statement), .. })) => statement.pieces.push(piece),
            _ if piece.is_comment() => units.push(Unit { newlines_before, kind: UnitKind::Comment(piece) }),
            _ => return Err(bug("a token outside every statement")),
        }
    }
    units.extend(open.map(|(_, unit)| unit));
    if statements.next().is_some() {
        return Err(bug("a statement without tokens"));
    }
    Ok(units)
}

/// The span and kind of every statement, in source order: the header, from
/// its `chain` keyword to its name, and each item.
fn statement_spans(
    chain: &ChainFile,
    lexemes: &[(Span, Lexeme<'_>)],
) -> Result<Vec<(Span, StatementKind)>, FormatError> {
    // A file that parses has exactly one `chain` keyword, the header's.
    let keyword = lexemes
        .iter()
        .find(|(_, lexeme)| *lexeme == Lexeme::Token(Token::Chain))
        .ok_or_else(|| bug("a chain without its `chain` keyword"))?;
    let name = chain.name.as_ref().ok_or_else(|| bug("a chain without its name"))?;
    let mut spans = vec![(keyword.0.to(name.span), StatementKind::Header)];
    for item in &chain.items {
        spans.push(match item {
            Item::Iface(iface) => (iface.span, StatementKind::Iface),
            Item::Map(map) => (map.span, StatementKind::Map),
            Item::Nf(nf) => (nf.span, StatementKind::Nf),
            Item::Link(link) => (link.span, StatementKind::Link),
            Item::Broken(_) => return Err(bug("a broken statement in a chain that parsed")),
        });
    }
    spans.sort_by_key(|(span, _)| span.start);
    Ok(spans)
}

fn text_of<'src>(source: &'src str, span: Span, lexeme: &Lexeme<'_>) -> Cow<'src, str> {
    let text = source.get(span.start..span.end).unwrap_or("");
    match lexeme {
        Lexeme::Token(_) => Cow::Borrowed(text),
        Lexeme::LineComment | Lexeme::BlockComment => comment_text(text),
    }
}

/// A comment as the formatter writes it: each of its lines without
/// trailing whitespace (which drops the `\r` of a `\r\n` line ending).
pub(super) fn comment_text(comment: &str) -> Cow<'_, str> {
    if comment.split('\n').all(|line| line.len() == line.trim_end().len()) {
        Cow::Borrowed(comment)
    } else {
        Cow::Owned(comment.split('\n').map(str::trim_end).collect::<Vec<_>>().join("\n"))
    }
}

fn bug(what: &str) -> FormatError {
    FormatError::Bug(what.to_owned())
}

//! Turning source text into a [`ChainFile`] and its diagnostics.
//!
//! Recovery works by statements: the token stream is first split where a new
//! statement starts (see [`split_statements`]), then each statement is parsed
//! on its own. A syntax error costs the statement it is in, which becomes an
//! [`Item::Broken`] node; one run reports the errors of every broken
//! statement, and the rest of the tree is there for the checker.

use lalrpop_util::ParseError;

use crate::ast::{BrokenShape, BrokenStatement, ChainFile, Ident, Item};
use crate::lexer::{LexError, Lexer, Token};
use crate::{Diagnostic, FileId, Span};

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_qualifications)]
    parser
);

/// One statement of a chain file, as the grammar parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `chain NAME`.
    Header(Ident),
    Item(Item),
}

type Spanned<'src> = (usize, Token<'src>, usize);

/// A parsed file: the tree, with a [`Item::Broken`] node for each statement
/// that did not parse, and every syntax error in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub chain: ChainFile,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// The tree when the file has no syntax error, else the errors: for
    /// callers that need all of the file (the formatter, tests).
    pub fn into_result(self) -> Result<ChainFile, Vec<Diagnostic>> {
        if self.diagnostics.is_empty() { Ok(self.chain) } else { Err(self.diagnostics) }
    }
}

/// Parses one `.gal` file. `file` is the id its diagnostics point into.
/// Always returns a tree; a statement with a syntax error is in it as an
/// [`Item::Broken`] node.
pub fn parse(source: &str, file: FileId) -> Parsed {
    let mut diagnostics = Vec::new();
    let mut tokens = Vec::new();
    for token in Lexer::new(source) {
        match token {
            Ok(token) => tokens.push(token),
            Err(LexError::UnterminatedString(span)) => {
                // Reported once, then read as if it were closed, so the rest
                // of the statement still parses.
                tokens.push((span.start, Token::Str(&source[span.start + 1..span.end]), span.end));
                diagnostics.push(LexError::UnterminatedString(span).into_diagnostic(source, file));
            }
            Err(error) => diagnostics.push(error.into_diagnostic(source, file)),
        }
    }

    let parser = parser::StatementParser::new();
    let mut header: Option<Ident> = None;
    let mut first_statement: Option<Span> = None;
    // A header with a syntax error is reported as that, not as missing.
    let mut header_written = false;
    let mut items = Vec::new();
    for statement in split_statements(source, tokens) {
        let span = Span::new(statement[0].0, statement[statement.len() - 1].2);
        header_written |= statement[0].1 == Token::Chain;
        first_statement.get_or_insert(span);
        let broken = || BrokenStatement { shape: broken_shape(&statement), names: names_in(&statement), span };
        match parser.parse(statement.iter().cloned().map(Ok::<_, LexError>)) {
            Ok(Statement::Header(name)) => match &header {
                Some(_) => diagnostics.push(
                    Diagnostic::error("E0006", "a file holds one chain", file, span, "second `chain` header")
                        .with_help("put each chain in a file of its own"),
                ),
                None => {
                    if first_statement != Some(span) {
                        diagnostics.push(
                            Diagnostic::error("E0005", "the `chain` header must come first", file, span, "the header")
                                .with_help("move this line to the top of the file"),
                        );
                    }
                    header = Some(name);
                }
            },
            Ok(Statement::Item(item)) => items.push(item),
            Err(error) => {
                diagnostics.push(syntax_diagnostic(error, source, file));
                items.push(Item::Broken(broken()));
            }
        }
    }
    if header.is_none() && !header_written {
        diagnostics.push(missing_header(file, first_statement.unwrap_or(Span::new(0, 0))));
    }
    diagnostics.sort_by_key(|d| d.primary.span.start);
    Parsed { chain: ChainFile { name: header, items }, diagnostics }
}

/// What a statement that did not parse was meant to be, from its first
/// tokens.
fn broken_shape(statement: &[Spanned<'_>]) -> BrokenShape {
    let ident = |index: usize| match statement.get(index) {
        Some(&(start, Token::Ident(name), end)) => Some(Ident { name: name.to_owned(), span: Span::new(start, end) }),
        _ => None,
    };
    match statement.first().map(|(_, token, _)| token) {
        Some(Token::Chain) => BrokenShape::Header,
        Some(Token::Iface) => BrokenShape::Iface(ident(1)),
        Some(Token::Map) => BrokenShape::Map(ident(1)),
        Some(Token::Nf) => BrokenShape::Nf(ident(1)),
        Some(Token::Ident(_)) if starts_link(statement) => {
            BrokenShape::Link { from: ident(0).expect("the first token is a name") }
        }
        _ => BrokenShape::Unknown,
    }
}

/// Every name in a statement.
fn names_in(statement: &[Spanned<'_>]) -> Vec<Ident> {
    statement
        .iter()
        .filter_map(|&(start, ref token, end)| match token {
            Token::Ident(name) => Some(Ident { name: (*name).to_owned(), span: Span::new(start, end) }),
            _ => None,
        })
        .collect()
}

/// Whether the tokens begin like a link: `NAME ->` or `NAME.PORT ->`.
fn starts_link(tokens: &[Spanned<'_>]) -> bool {
    let token = |index: usize| tokens.get(index).map(|(_, token, _)| token);
    matches!(token(0), Some(Token::Ident(_)))
        && (matches!(token(1), Some(Token::Arrow))
            || (matches!(token(1), Some(Token::Dot))
                && matches!(token(2), Some(Token::Ident(_)))
                && matches!(token(3), Some(Token::Arrow))))
}

fn missing_header(file: FileId, span: Span) -> Diagnostic {
    Diagnostic::error(
        "E0005",
        "a chain file starts with `chain NAME`",
        file,
        span,
        "expected the chain's header before this",
    )
    .with_help("add a first line like `chain my_chain`")
}

/// Splits tokens into statements. A keyword (`chain`, `map`, `nf`, `iface`)
/// always starts a statement: it can appear nowhere else, so an unclosed
/// brace cannot swallow the declarations after it. A name starts a statement
/// when it begins a line outside any braces and the previous token does not
/// ask for more (`->`, `=`, `,` ...). Inside braces, a line that begins like
/// a link (`NAME ->`, `NAME.PORT ->`) starts one whatever comes before it:
/// no block holds a link, so an unclosed fan-out block cannot swallow the
/// links after it.
pub(crate) fn split_statements<'src>(source: &str, tokens: Vec<Spanned<'src>>) -> Vec<Vec<Spanned<'src>>> {
    let mut statements: Vec<Vec<Spanned<'src>>> = Vec::new();
    let mut depth = 0usize;
    let mut previous_end = 0;
    for (index, &token) in tokens.iter().enumerate() {
        let line_initial =
            statements.is_empty() || source.get(previous_end..token.0).is_some_and(|gap| gap.contains('\n'));
        let keyword = matches!(token.1, Token::Chain | Token::Map | Token::Nf | Token::Iface);
        let previous_continues = statements.last().and_then(|s| s.last()).is_some_and(|(_, t, _)| asks_for_more(t));
        let name_starts = line_initial
            && matches!(token.1, Token::Ident(_))
            && ((depth == 0 && !previous_continues) || (depth > 0 && starts_link(&tokens[index..])));
        let starts = keyword || name_starts;
        if starts || statements.is_empty() {
            statements.push(Vec::new());
            depth = 0;
        }
        match token.1 {
            Token::LBrace | Token::LBracket => depth += 1,
            Token::RBrace | Token::RBracket => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous_end = token.2;
        statements.last_mut().expect("pushed above").push(token);
    }
    statements
}

/// Tokens after which a statement cannot end.
pub(crate) fn asks_for_more(token: &Token<'_>) -> bool {
    matches!(
        token,
        Token::Arrow
            | Token::Equals
            | Token::Colon
            | Token::Comma
            | Token::Dot
            | Token::LAngle
            | Token::LBracket
            | Token::LBrace
            | Token::Bang
            | Token::At
    )
}

fn syntax_diagnostic(error: ParseError<usize, Token<'_>, LexError>, source: &str, file: FileId) -> Diagnostic {
    match error {
        ParseError::User { error } => error.into_diagnostic(source, file),
        ParseError::InvalidToken { location } => {
            LexError::BadText(Span::new(location, location + 1)).into_diagnostic(source, file)
        }
        ParseError::UnrecognizedToken { token: (start, token, end), expected } => Diagnostic::error(
            "E0002",
            format!("unexpected {token}"),
            file,
            Span::new(start, end),
            format!("expected {}", describe_expected(&expected)),
        ),
        ParseError::ExtraToken { token: (start, token, end) } => Diagnostic::error(
            "E0002",
            format!("unexpected {token}"),
            file,
            Span::new(start, end),
            "nothing may follow here",
        ),
        ParseError::UnrecognizedEof { location, expected } => Diagnostic::error(
            "E0003",
            "this statement is incomplete",
            file,
            Span::new(location, location),
            format!("expected {} here", describe_expected(&expected)),
        ),
    }
}

/// LALRPOP names expected terminals as quoted grammar strings (`"\"->\""`);
/// say them the way a user reads the language.
fn describe_expected(expected: &[String]) -> String {
    let mut words: Vec<String> = expected
        .iter()
        .map(|terminal| match terminal.trim_matches('"') {
            "ident" => "a name".to_owned(),
            "int" => "a number".to_owned(),
            "string" => "a quoted crate path".to_owned(),
            other => format!("`{}`", other.replace("\\\"", "\"")),
        })
        .collect();
    words.dedup();
    match words.as_slice() {
        [] => "the end of the statement; start the next one on a new line".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;

//! The `.gal` lexer (logos), adapted to the token stream LALRPOP expects.

use logos::Logos;

use crate::{Diagnostic, FileId, Span};

/// A token of the `.gal` language. Whitespace and comments never reach the
/// parser.
#[derive(Logos, Debug, Clone, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f\u{feff}]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
#[logos(skip r"/\*([^*]|\*+[^*/])*\*+/")]
pub enum Token<'src> {
    #[token("chain")]
    Chain,
    #[token("map")]
    Map,
    #[token("nf")]
    Nf,
    #[token("iface")]
    Iface,
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'src str),
    #[regex(r"[0-9][0-9_]*")]
    Int(&'src str),
    /// A string literal without its quotes. No escapes: NF paths need none.
    #[regex(r#""[^"\n]*""#, |lex| { let s = lex.slice(); &s[1..s.len() - 1] })]
    Str(&'src str),
    /// A string the line ends in; reported, then parsed as if closed.
    #[regex(r#""[^"\n]*"#)]
    UnterminatedStr,
    #[token("->")]
    Arrow,
    #[token("=")]
    Equals,
    #[token(":")]
    Colon,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("<")]
    LAngle,
    #[token(">")]
    RAngle,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("@")]
    At,
    #[token("!")]
    Bang,
}

impl std::fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Token::Chain => "`chain`",
            Token::Map => "`map`",
            Token::Nf => "`nf`",
            Token::Iface => "`iface`",
            Token::Ident(name) => return write!(f, "name `{name}`"),
            Token::Int(digits) => return write!(f, "number `{digits}`"),
            Token::Str(text) => return write!(f, "string \"{text}\""),
            Token::UnterminatedStr => "unterminated string",
            Token::Arrow => "`->`",
            Token::Equals => "`=`",
            Token::Colon => "`:`",
            Token::Comma => "`,`",
            Token::Dot => "`.`",
            Token::LBrace => "`{`",
            Token::RBrace => "`}`",
            Token::LAngle => "`<`",
            Token::RAngle => "`>`",
            Token::LBracket => "`[`",
            Token::RBracket => "`]`",
            Token::At => "`@`",
            Token::Bang => "`!`",
        };
        f.write_str(text)
    }
}

/// An error the lexer or a grammar action finds, before LALRPOP's own
/// "unexpected token" errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexError {
    /// A character sequence that is no token.
    BadText(Span),
    /// A string literal the line ends in.
    UnterminatedString(Span),
    /// `lib.name` as an NF source where `lib` is not `std`.
    UnknownLibrary(Span),
}

impl LexError {
    pub(crate) fn not_std(span: Span) -> LexError {
        LexError::UnknownLibrary(span)
    }

    pub fn into_diagnostic(self, source: &str, file: FileId) -> Diagnostic {
        let span = match self {
            LexError::BadText(span) => span,
            LexError::UnterminatedString(span) => {
                return Diagnostic::error("E0001", "unterminated string", file, span, "this string is not closed")
                    .with_help("close the string with `\"` on the same line");
            }
            LexError::UnknownLibrary(span) => {
                return Diagnostic::error(
                    "E0004",
                    "unknown NF library",
                    file,
                    span,
                    "only `std` is a library name",
                )
                .with_help("use `std.NAME` for a standard NF, or a quoted crate path like \"nfs/my_nf\"");
            }
        };
        let text = source.get(span.start..span.end).unwrap_or("");
        let (message, help) = if text.starts_with("/*") {
            ("unterminated block comment".to_owned(), "close the comment with `*/`")
        } else {
            (format!("unexpected character `{}`", text.chars().next().unwrap_or('?')), "remove it")
        };
        Diagnostic::error("E0001", message, file, span, "not part of the language").with_help(help)
    }
}

/// The token stream in the `(start, token, end)` shape LALRPOP consumes.
pub struct Lexer<'src> {
    inner: logos::SpannedIter<'src, Token<'src>>,
}

impl<'src> Lexer<'src> {
    pub fn new(source: &'src str) -> Self {
        Lexer { inner: Token::lexer(source).spanned() }
    }
}

impl<'src> Iterator for Lexer<'src> {
    type Item = Result<(usize, Token<'src>, usize), LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (token, range) = self.inner.next()?;
        Some(match token {
            Ok(Token::UnterminatedStr) => Err(LexError::UnterminatedString(Span::new(range.start, range.end))),
            Ok(token) => Ok((range.start, token, range.end)),
            Err(()) => Err(LexError::BadText(Span::new(range.start, range.end))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(source: &str) -> Vec<Token<'_>> {
        Lexer::new(source).map(|t| t.unwrap().1).collect()
    }

    #[test]
    fn skips_whitespace_and_both_kinds_of_comment() {
        assert_eq!(
            tokens("chain a // x\n/* y\n * z */ nf"),
            vec![Token::Chain, Token::Ident("a"), Token::Nf]
        );
    }

    #[test]
    fn lexes_links_and_sources() {
        assert_eq!(
            tokens(r#"a.p -> !b "nfs/x""#),
            vec![
                Token::Ident("a"),
                Token::Dot,
                Token::Ident("p"),
                Token::Arrow,
                Token::Bang,
                Token::Ident("b"),
                Token::Str("nfs/x"),
            ]
        );
    }

    #[test]
    fn keywords_are_not_prefixes_of_names() {
        assert_eq!(tokens("chains nf_x"), vec![Token::Ident("chains"), Token::Ident("nf_x")]);
    }

    #[test]
    fn reports_a_stray_character_with_its_span() {
        let err = Lexer::new("a $").nth(1).unwrap().unwrap_err();
        assert_eq!(err, LexError::BadText(Span::new(2, 3)));
    }
}

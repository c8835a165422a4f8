//! The `.gal` lexer (logos), adapted to the token stream LALRPOP expects.

use logos::Logos;

use crate::{Diagnostic, FileId, Span};

/// A token of the `.gal` language. Whitespace and comments never reach the
/// parser.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
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
                return Diagnostic::error("E0004", "unknown NF library", file, span, "only `std` is a library name")
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

/// A piece of source text as the formatter sees it: a token of the parser,
/// or one of the comments the parser never sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lexeme<'src> {
    Token(Token<'src>),
    /// `// ...`, up to the end of the line (a `\r` before it included).
    LineComment,
    /// `/* ... */`, possibly over several lines.
    BlockComment,
}

/// What the parser's lexer skips between two tokens. The patterns are those
/// of the skip rules of [`Token`], so both lexers cut a comment at the same
/// place.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f\u{feff}]+")]
enum Trivia {
    #[regex(r"//[^\n]*", allow_greedy = true)]
    LineComment,
    #[regex(r"/\*([^*]|\*+[^*/])*\*+/")]
    BlockComment,
}

/// The tokens of `source` and the comments between them, in source order.
/// The tokens are exactly those [`Lexer`] gives the parser: the comments are
/// found again in the text it skipped, so the parser's stream is untouched.
/// Fails with the first error [`Lexer`] reports.
pub(crate) fn lex_keeping_comments(source: &str) -> Result<Vec<(Span, Lexeme<'_>)>, LexError> {
    let mut lexemes = Vec::new();
    let mut skipped_from = 0;
    for token in Lexer::new(source) {
        let (start, token, end) = token?;
        push_comments(source, skipped_from, start, &mut lexemes)?;
        lexemes.push((Span::new(start, end), Lexeme::Token(token)));
        skipped_from = end;
    }
    push_comments(source, skipped_from, source.len(), &mut lexemes)?;
    Ok(lexemes)
}

/// Pushes the comments in `source[start..end]`, text the parser's lexer
/// skipped.
fn push_comments<'src>(
    source: &'src str,
    start: usize,
    end: usize,
    lexemes: &mut Vec<(Span, Lexeme<'src>)>,
) -> Result<(), LexError> {
    let skipped = source.get(start..end).ok_or(LexError::BadText(Span::new(start, end)))?;
    for (trivia, range) in Trivia::lexer(skipped).spanned() {
        let span = Span::new(start + range.start, start + range.end);
        match trivia {
            Ok(Trivia::LineComment) => lexemes.push((span, Lexeme::LineComment)),
            Ok(Trivia::BlockComment) => lexemes.push((span, Lexeme::BlockComment)),
            Err(()) => return Err(LexError::BadText(span)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(source: &str) -> Vec<Token<'_>> {
        Lexer::new(source).map(|t| t.unwrap().1).collect()
    }

    #[test]
    fn skips_whitespace_and_both_kinds_of_comment() {
        assert_eq!(tokens("chain a // x\n/* y\n * z */ nf"), vec![Token::Chain, Token::Ident("a"), Token::Nf]);
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

    fn lexemes(source: &str) -> Vec<(&str, Lexeme<'_>)> {
        lex_keeping_comments(source)
            .unwrap()
            .into_iter()
            .map(|(span, lexeme)| (&source[span.start..span.end], lexeme))
            .collect()
    }

    #[test]
    fn keeps_comments_between_the_same_tokens() {
        let source = "\u{feff}// a\r\nchain /* b\n */ c //\n/**/";
        assert_eq!(
            lexemes(source),
            vec![
                ("// a\r", Lexeme::LineComment),
                ("chain", Lexeme::Token(Token::Chain)),
                ("/* b\n */", Lexeme::BlockComment),
                ("c", Lexeme::Token(Token::Ident("c"))),
                ("//", Lexeme::LineComment),
                ("/**/", Lexeme::BlockComment),
            ]
        );
    }

    #[test]
    fn keeping_comments_fails_where_the_parser_lexer_does() {
        assert!(lex_keeping_comments("a /* b").is_err());
        assert!(lex_keeping_comments("a \"b").is_err());
        assert!(lex_keeping_comments("a $ b").is_err());
    }
}

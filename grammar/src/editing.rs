//! What an editor asks of the language beyond parsing: the statement the
//! cursor is in (to know what to complete), and whether a text is a name (to
//! rename to it).

use crate::Span;
use crate::lexer::{Lexer, Token};
use crate::parse::{asks_for_more, split_statements};

/// The tokens of the statement that `offset` is in, up to `offset`, a word
/// that ends right there (the one being typed) included. Empty when `offset`
/// begins a new statement. Text that is no token is skipped.
pub fn statement_before(source: &str, offset: usize) -> Vec<(Span, Token<'_>)> {
    let Some(prefix) = source.get(..offset) else { return Vec::new() };
    let tokens: Vec<_> = Lexer::new(prefix).filter_map(Result::ok).collect();
    let Some(statement) = split_statements(prefix, tokens).pop() else { return Vec::new() };
    let Some(&(_, last, end)) = statement.last() else { return Vec::new() };
    let depth = statement.iter().fold(0i32, |depth, (_, token, _)| match token {
        Token::LBrace | Token::LBracket => depth + 1,
        Token::RBrace | Token::RBracket => depth - 1,
        _ => depth,
    });
    // On a new line after a statement that asks for nothing more, the next
    // one begins.
    if prefix[end..].contains('\n') && depth <= 0 && !asks_for_more(&last) {
        return Vec::new();
    }
    statement.into_iter().map(|(start, token, end)| (Span::new(start, end), token)).collect()
}

/// Whether `text` is a name the language accepts for an NF, a map or a role:
/// one identifier token, not a keyword.
pub fn is_name(text: &str) -> bool {
    let mut tokens = Lexer::new(text);
    matches!(tokens.next(), Some(Ok((0, Token::Ident(name), _))) if name == text) && tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before(source: &str) -> Vec<Token<'_>> {
        statement_before(source, source.len()).into_iter().map(|(_, token)| token).collect()
    }

    #[test]
    fn the_statement_before_the_cursor_starts_at_its_first_token() {
        assert_eq!(before("chain c\nnf a = std.acl\na."), [Token::Ident("a"), Token::Dot]);
        assert_eq!(
            before("chain c\nrx -> { al"),
            [Token::Ident("rx"), Token::Arrow, Token::LBrace, Token::Ident("al")]
        );
        assert_eq!(before("chain c\nmap m: "), [Token::Map, Token::Ident("m"), Token::Colon]);
    }

    #[test]
    fn a_new_line_after_a_finished_statement_begins_a_new_one() {
        assert_eq!(before("chain c\nrx -> tx\n"), []);
        assert_eq!(before("chain c\nrx ->\n"), [Token::Ident("rx"), Token::Arrow]);
        assert_eq!(
            before("chain c\na -> {\n  allowed: tx,\n  "),
            [
                Token::Ident("a"),
                Token::Arrow,
                Token::LBrace,
                Token::Ident("allowed"),
                Token::Colon,
                Token::Ident("tx"),
                Token::Comma
            ]
        );
        assert_eq!(before(""), []);
    }

    #[test]
    fn names_are_identifiers_but_not_keywords() {
        assert!(is_name("acl_v4"));
        assert!(is_name("_x1"));
        for not_a_name in ["", "nf", "map", "1a", "a b", "a-b", "a.b", "\"a\"", "a // c"] {
            assert!(!is_name(not_a_name), "{not_a_name:?}");
        }
    }
}

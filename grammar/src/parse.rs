//! Turning source text into a [`ChainFile`], or into diagnostics.

use lalrpop_util::ParseError;

use crate::ast::ChainFile;
use crate::lexer::{LexError, Lexer, Token};
use crate::{Diagnostic, FileId, Span};

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_qualifications)]
    parser
);

/// Parses one `.gal` file. `file` is the id its diagnostics point into.
pub fn parse(source: &str, file: FileId) -> Result<ChainFile, Vec<Diagnostic>> {
    parser::ChainFileParser::new()
        .parse(Lexer::new(source))
        .map_err(|error| vec![syntax_diagnostic(error, source, file)])
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
        ParseError::ExtraToken { token: (start, token, end) } => {
            Diagnostic::error("E0002", format!("unexpected {token}"), file, Span::new(start, end), "nothing may follow here")
        }
        ParseError::UnrecognizedEof { location, expected } => {
            let at = Span::new(location, location);
            Diagnostic::error(
                "E0003",
                "the file ends in the middle of a declaration",
                file,
                at,
                format!("expected {}", describe_expected(&expected)),
            )
        }
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
        [] => "nothing".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Item, LinkTarget, NfSource};

    const MACSWAP: &str = "chain macswap\nnf swap = std.macswap\nrx -> swap\nswap -> tx\n";

    #[test]
    fn parses_the_smallest_chain() {
        let chain = parse(MACSWAP, 0).unwrap();
        assert_eq!(chain.name.name, "macswap");
        assert_eq!(chain.items.len(), 3);
        let Item::Nf(nf) = &chain.items[0] else { panic!("expected an nf") };
        assert!(matches!(&nf.source, NfSource::Std { name, .. } if name.name == "macswap"));
        assert_eq!(&MACSWAP[nf.name.span.start..nf.name.span.end], "swap");
    }

    #[test]
    fn parses_maps_bindings_attributes_and_fan_out() {
        let source = r#"chain s
            map allow: lpm_trie<Ipv4Prefix, u8>[65_536]
            nf acl = std.acl { allow: allow, } @xdp
            nf dpi = "nfs/dpi" @userland
            rx -> acl
            acl -> { allowed: !dpi, denied: drop, }
        "#;
        let chain = parse(source, 0).unwrap();
        let Item::Map(map) = &chain.items[0] else { panic!("expected a map") };
        assert_eq!(map.capacity.value, Some(65_536));
        let Item::Nf(acl) = &chain.items[1] else { panic!("expected an nf") };
        assert_eq!(acl.bindings.len(), 1);
        assert_eq!(acl.attributes[0].name, "xdp");
        let Item::Link(link) = &chain.items[5] else { panic!("expected a link") };
        let LinkTarget::FanOut(routes) = &link.to else { panic!("expected a fan-out") };
        assert!(routes[0].destination.upcall);
        assert_eq!(routes[1].destination.name.name, "drop");
    }

    #[test]
    fn an_unexpected_token_says_what_was_expected() {
        let errors = parse("chain a\nrx -> -> tx", 0).unwrap_err();
        assert_eq!(errors[0].code, "E0002");
        assert_eq!(errors[0].message, "unexpected `->`");
        assert!(errors[0].primary.message.contains("a name"), "{:?}", errors[0]);
    }

    #[test]
    fn a_truncated_file_is_reported_at_its_end() {
        let errors = parse("chain a\nrx ->", 0).unwrap_err();
        assert_eq!(errors[0].code, "E0003");
        assert_eq!(errors[0].primary.span, Span::new(13, 13));
    }

    #[test]
    fn only_std_is_a_library() {
        let errors = parse("chain a\nnf x = lib.x", 0).unwrap_err();
        assert_eq!(errors[0].code, "E0004");
    }

    #[test]
    fn never_panics_on_prefixes_of_a_valid_chain() {
        for end in 0..=MACSWAP.len() {
            let _ = parse(&MACSWAP[..end], 0);
        }
    }
}

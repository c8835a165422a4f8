//! Feeds arbitrary bytes to `galette_grammar::format` and checks what it
//! promises: no panic; a file that does not parse is refused with exactly
//! the parser's diagnostics; the formatter never reports a bug of its own
//! (its output always re-parses to the same tree with the same comments);
//! and formatting is idempotent.
#![no_main]

use galette_grammar::{FormatError, format, parse};
use libfuzzer_sys::fuzz_target;

const FILE: usize = 3;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    match format(&source, FILE) {
        Ok(formatted) => {
            let again = format(&formatted, FILE)
                .unwrap_or_else(|err| panic!("formatted text does not format: {err:?}\n{formatted}"));
            assert_eq!(again, formatted, "formatting is not idempotent");
        }
        Err(FormatError::Syntax(diagnostics)) => {
            assert!(
                parse(&source, FILE).diagnostics == diagnostics,
                "syntax errors other than the parser's"
            );
        }
        Err(FormatError::Bug(reason)) => panic!("the formatter refused its own output: {reason}\n{source}"),
    }
});

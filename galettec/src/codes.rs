//! Every diagnostic code galettec can emit, with a one-line explanation.
//!
//! The list is the reference for docs/language.md and for the tests that
//! require a snapshot per code; a test also checks that every code used in
//! the sources is listed here.

/// `(code, explanation)`, errors `E` then warnings `W`, by number.
pub const CODES: &[(&str, &str)] = &[
    ("E0001", "text that is not part of the language: a stray character, an unterminated string or comment"),
    ("E0002", "a token where the grammar does not allow it"),
    ("E0003", "a statement that ends before it is complete"),
    ("E0004", "an NF source `LIB.NAME` whose library is not `std`"),
    ("E0005", "the file does not start with `chain NAME`"),
    ("E0006", "a second `chain` header: a file holds one chain"),
    ("E0007", "the file is not valid UTF-8"),
    ("E0101", "a name declared twice (NFs and interface roles share one set of names)"),
    ("E0102", "a link names something that is not declared"),
    ("E0103", "nothing is linked to `rx` (or to `rx.ROLE` for some role)"),
    ("E0104", "`rx` (or `rx.ROLE`) is linked twice, or both with and without roles"),
    ("E0105", "an NF or role takes a reserved name (`rx`, `tx`, `pass`, `drop`, `abort`)"),
    ("E0106", "`rx` used as a destination, or fanned out"),
    ("E0107", "a link that starts at a destination or an interface role"),
    ("E0108", "a fan-out block after `nf.port`: a fan-out links the ports itself"),
    ("E0109", "a map declared twice"),
    ("E0110", "a binding to a map that is not declared"),
    ("E0112", "`rx.ROLE` with a role that is not declared"),
    ("E0113", "an unknown attribute (the attributes are `@xdp` and `@userland`)"),
    ("E0114", "more than one placement attribute on an NF"),
    ("E0116", "an upcall (`!`) to something that is not an NF"),
    ("E0120", "an unknown map kind"),
    ("E0121", "a map capacity of zero, or larger than the kernel allows"),
    ("E0122", "an `lpm_trie` whose key is not a prefix type (`Ipv4Prefix`, `Ipv6Prefix`)"),
    ("E0123", "an `array` or `percpu_array` whose key is not `u32`"),
    ("E0124", "a map kind other than an array written with one type parameter: it needs a key type"),
    ("E0201", "the NF crate cannot be read (no Cargo.toml or src/lib.rs there), or `std.NAME` is no standard NF"),
    ("E0202", "the NF crate's Cargo.toml has no package name"),
    ("E0203", "the NF crate's src/lib.rs is not valid Rust"),
    ("E0204", "the NF crate has no `Action` enum"),
    ("E0205", "the NF's `Action` enum is not a public enum of plain variants"),
    ("E0206", "the NF's `packet` function is missing or has the wrong shape"),
    ("E0207", "the NF's `#[maps]` struct is not `pub`"),
    ("E0301", "a link names a port the NF does not have"),
    ("E0302", "a port is linked twice"),
    ("E0303", "ports of an NF are left unconnected"),
    ("E0304", "a link from an NF with several ports does not say which port"),
    ("E0305", "the links form a cycle"),
    ("E0401", "a binding names a map field the NF does not have"),
    ("E0402", "map fields of an NF are left unbound"),
    ("E0403", "a map field is bound twice"),
    ("E0404", "an NF's map field whose type is not an nf-std map type"),
    ("E0405", "a binding of a map of one kind to a field of another kind"),
    ("E0406", "a binding whose map and field differ in key or value type"),
    ("E0407", "a struct used as a map key or value that is not `#[repr(C)]`"),
    ("E0408", "NFs that share a map lay out its key or value type differently"),
    ("E0501", "`@xdp` on an NF that must run in userland"),
    ("E0502", "`@xdp` on an NF whose XDP program the kernel verifier rejects"),
    ("E0900", "a valid construct that this version of galettec cannot build yet"),
    ("W0101", "an NF that no packet can reach from `rx`; it is left out of the bundle"),
    ("W0102", "a map that no NF uses"),
    ("W0103", "`pass` after a userland NF: the frame cannot return to the host's stack and is dropped"),
];

/// The explanation of `code`, if it is one.
pub fn explain(code: &str) -> Option<&'static str> {
    CODES.iter().find(|(known, _)| *known == code).map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every `"E1234"` or `"W1234"` literal in the front end's sources.
    fn codes_in_sources() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut found = Vec::new();
        let mut dirs = vec![root.join("grammar/src"), root.join("galettec/src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("codes.rs")
                    && !path.to_string_lossy().contains("tests")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    found.extend(text.match_indices('"').filter_map(|(i, _)| {
                        let candidate = text.get(i + 1..i + 6)?;
                        let is_code = text.get(i + 6..i + 7) == Some("\"")
                            && (candidate.starts_with('E') || candidate.starts_with('W'))
                            && candidate[1..].bytes().all(|b| b.is_ascii_digit());
                        is_code.then(|| candidate.to_owned())
                    }));
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn every_code_in_the_sources_is_listed() {
        let sources = codes_in_sources();
        assert!(sources.len() > 30, "found only {sources:?}");
        for code in sources {
            assert!(explain(&code).is_some(), "{code} is used but not listed in codes.rs");
        }
    }

    #[test]
    fn every_listed_code_is_used_and_listed_once() {
        let sources = codes_in_sources();
        for (i, (code, _)) in CODES.iter().enumerate() {
            assert!(sources.iter().any(|used| used == code), "{code} is listed but never emitted");
            assert!(!CODES[i + 1..].iter().any(|(other, _)| other == code), "{code} is listed twice");
        }
    }
}

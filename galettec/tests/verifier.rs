//! The kernel verifier in the loop: an NF the verifier rejects runs in
//! userland instead, unless the chain insists on XDP, which is an error that
//! says which NF and why. Needs root, like the other tests that load
//! programs.

use std::path::{Path, PathBuf};

use galettec::render::render_diagnostics;
use galettec::{CompileError, CompileOptions, compile_chain};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Compiles a chain of tests/verifier/ and returns the rendered diagnostics
/// of its failure, with the verifier's log (which changes between kernels)
/// masked.
fn rejected(chain: &str) -> (Vec<&'static str>, String) {
    std::env::set_current_dir(project_root()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = Path::new("tests/verifier").join(chain);
    let result = compile_chain(&path, &out.path().join("bundle"), &CompileOptions::from_env());
    let Err(CompileError::Invalid(checked)) = result else {
        panic!("expected the verifier to reject {chain}, got {result:?}");
    };
    assert!(!out.path().join("bundle").exists(), "no bundle is written");
    let codes = checked.diagnostics.iter().map(|d| d.code).collect();
    let rendered = render_diagnostics(&checked.files, &checked.diagnostics);
    let masked: Vec<&str> =
        rendered.lines().filter(|line| !line.starts_with("    ") || line.trim_start().starts_with("remove")).collect();
    let mut masked = masked.join("\n");
    if let Some(start) = masked.find("rejected it (") {
        let end = masked[start..].find(')').map_or(masked.len(), |end| start + end + 1);
        masked.replace_range(start..end, "rejected it ([verifier log])");
    }
    (codes, masked)
}

#[test]
fn a_rejected_nf_moves_to_userland_and_xdp_on_it_is_an_error() {
    // One test, so the current directory is set by one thread only.
    std::env::set_current_dir(project_root()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let compiled = compile_chain(
        Path::new("tests/verifier/rejected.gal"),
        &out.path().join("bundle"),
        &CompileOptions::from_env(),
    )
    .unwrap();
    let spin = &compiled.manifest.instances[0];
    assert_eq!(spin.placement, galette_bundle::Placement::Userland);
    assert!(spin.reason.starts_with("the kernel verifier rejected it"), "{}", spin.reason);
    assert!(
        compiled.notes.iter().any(|note| note.contains("rejected `spin`; it runs in userland")),
        "{:?}",
        compiled.notes
    );
    assert!(out.path().join("bundle/user/spin.so").is_file(), "built for userland instead");

    let (codes, rendered) = rejected("rejected_xdp.gal");
    assert_eq!(codes, ["E0502"], "{rendered}");
    insta::with_settings!({
        snapshot_path => project_root().join("tests/snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("E0502-verifier-rejects-xdp", rendered);
    });
}

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
    let library = galette_bundle::Platform::host().unwrap().library_path("spin.so");
    assert!(out.path().join("bundle").join(library).is_file(), "built for userland instead");

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

#[test]
fn a_segment_the_verifier_rejects_is_split_and_both_halves_stay_in_xdp() {
    let out = tempfile::tempdir().unwrap();
    let chain = project_root().join("tests/verifier/split.gal");
    let compiled = compile_chain(&chain, &out.path().join("bundle"), &CompileOptions::from_env()).unwrap();
    let [first, second, swap] = &compiled.manifest.instances[..] else { panic!("three instances") };
    let in_xdp = [first, second, swap].iter().all(|instance| instance.placement == galette_bundle::Placement::Xdp);
    assert!(in_xdp, "{:?}", compiled.manifest.instances);
    assert_eq!(swap.program, None, "fused into the second segment");
    assert_eq!(first.program, None, "fused into the entry program");
    assert_eq!(second.program.as_deref(), Some("galette_nf_1"), "its own segment, entered by a tail call");
    let split = compiled.notes.iter().find(|note| note.contains("split before `second`"));
    let split = split.unwrap_or_else(|| panic!("{:?}", compiled.notes));
    assert!(split.contains("rejected `galette_rx`, 3 NFs in one program (BPF program is too large"), "{split}");

    // `explain` shows the segments, and why the split is where it is.
    let output =
        std::process::Command::new(env!("CARGO_BIN_EXE_galettec")).arg("explain").arg(&chain).output().unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(table.contains("galette_rx    rx         first\n"), "{table}");
    assert!(table.contains("galette_nf_1  second     second, swap\n"), "{table}");
    assert!(
        table
            .contains("split here: the kernel verifier rejected `galette_rx` as one program (BPF program is too large"),
        "{table}"
    );
}

//! The manifest galettec writes, as a reviewed snapshot: a change to the
//! bundle format shows up here. Hashes and the platform are masked, since
//! they depend on the toolchain and the machine.

use std::path::{Path, PathBuf};

use galettec::{CompileOptions, compile_chain};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

#[test]
fn the_manifest_of_an_example_matches_its_snapshot() {
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("bundle");
    compile_chain(&project_root().join("examples/counted_reflector.gal"), &bundle, &CompileOptions::from_env())
        .unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap()).unwrap();
    for artifact in manifest["artifacts"].as_array_mut().unwrap() {
        let hash = artifact["sha256"].as_str().unwrap();
        assert_eq!(hash.len(), 64, "a SHA-256 in hex");
        artifact["sha256"] = "[sha256]".into();
    }
    let host = galette_bundle::Platform::host().unwrap();
    assert_eq!(manifest["platforms"], serde_json::json!([host.name()]));
    manifest["platforms"] = serde_json::json!(["[platform]"]);
    insta::with_settings!({
        snapshot_path => project_root().join("tests/snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("manifest-counted_reflector", serde_json::to_string_pretty(&manifest).unwrap());
    });
}

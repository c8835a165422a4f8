//! The code galettec generates for every example chain, as insta snapshots
//! in `tests/snapshots/codegen-*.snap`: a change to code generation shows up
//! as a diff of the generated Rust, to be read in review (`cargo insta
//! review`, or `INSTA_UPDATE=always` and `git diff`).

use std::path::{Path, PathBuf};

use galettec::codegen::generate_ebpf_crate;
use galettec::codegen_userland::generate_userland_crate;
use galettec::{CompileOptions, check_chain};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// The chain's XDP crate, then the library crate of each userland
/// instance, with the machine's paths taken out.
fn generated(chain: &Path) -> String {
    let options = CompileOptions::from_env();
    let checked = check_chain(chain, &options).unwrap();
    let placed = checked.chain.unwrap_or_else(|| panic!("{} does not check", chain.display()));
    let mut out = String::new();
    let xdp = generate_ebpf_crate(&placed, &options.nf_std_dir, options.fusion);
    out.push_str(&format!("=== XDP crate (src/lib.rs)\n{}", xdp.lib_rs));
    for (instance, decision) in placed.instances() {
        if decision.placement == galette_bundle::Placement::Userland {
            let library = generate_userland_crate(&placed.chain, instance, &options.nf_std_dir);
            out.push_str(&format!("\n=== userland library of `{}` (src/lib.rs)\n{}", instance.name, library.lib_rs));
        }
    }
    out.replace(&project_root().display().to_string(), "$PROJECT")
}

#[test]
fn every_example_chain_generates_the_code_in_its_snapshot() {
    let mut chains: Vec<PathBuf> = std::fs::read_dir(project_root().join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "gal"))
        .collect();
    chains.sort();
    assert!(chains.len() >= 7, "{chains:?}");
    for chain in chains {
        let name = chain.file_stem().unwrap().to_string_lossy().into_owned();
        insta::with_settings!({
            snapshot_path => project_root().join("tests/snapshots"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("codegen-{name}"), generated(&chain));
        });
    }
}

//! The shared eBPF crate `galette-chain` (nf-std/chain) cannot depend on
//! `galette_bundle` (it is built for BPF, without std), so it repeats the
//! names and sizes the runtime reads from the bundle's side. This test
//! keeps the two in step.

use std::path::Path;

fn shared_source() -> String {
    let dir = galettec::codegen::shared_crate_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../nf-std"));
    std::fs::read_to_string(dir.join("src/xdp.rs")).unwrap()
}

/// The value of `const NAME: TYPE = VALUE;` in `source`.
fn constant(source: &str, name: &str) -> String {
    let line = source
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("const {name}:")))
        .unwrap_or_else(|| panic!("no constant {name}"));
    line.split('=').nth(1).unwrap().trim().trim_end_matches(';').to_owned()
}

#[test]
fn the_shared_crate_agrees_with_the_bundle_format() {
    let source = shared_source();
    assert_eq!(constant(&source, "MAX_ROLES"), galette_bundle::MAX_ROLES.to_string());
    assert_eq!(constant(&source, "MAX_WORKERS"), galette_bundle::MAX_WORKERS.to_string());
    assert_eq!(constant(&source, "CONFIG_WORKERS"), galette_bundle::CONFIG_WORKERS.to_string());
    assert_eq!(constant(&source, "CONFIG_GENERATION"), galette_bundle::CONFIG_GENERATION.to_string());
    assert_eq!(constant(&source, "STATS_XDP_ENTRY"), galette_bundle::STATS_XDP_ENTRY.to_string());
    assert_eq!(
        constant(&source, "UPCALL_METADATA_LEN"),
        std::mem::size_of::<galette_bundle::UpcallMetadata>().to_string()
    );
    for reason in galette_bundle::DropReason::ALL {
        let name = format!("DROP_{}", reason.name().to_uppercase());
        assert_eq!(constant(&source, &name), (reason as u32).to_string(), "{name}");
    }
    let config_slots = format!("Array::with_max_entries({}, 0)", galette_bundle::CONFIG_SLOTS);
    assert!(source.contains(&config_slots), "GALETTE_CONFIG has CONFIG_SLOTS entries");
    for map in
        [galette_bundle::XSKS_MAP, galette_bundle::XSK_BASES_MAP, galette_bundle::DEVS_MAP, galette_bundle::CONFIG_MAP]
    {
        assert!(source.contains(&format!("pub static {map}:")), "the shared crate defines {map}");
    }
}

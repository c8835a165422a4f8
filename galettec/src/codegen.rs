//! Code generation: the Rust source of the crate that becomes the chain's
//! eBPF object.
//!
//! Every XDP instance is one program (`galette_nf_<index>`) in a program
//! array; it counts the packet, calls its NF, and carries out the action the
//! action table holds for the port the NF chose: a verdict, or a tail call
//! to the next instance. The entry program `galette_rx`, attached to the
//! interface, follows the table's entry slot. The runtime fills the table
//! from the manifest, so links can change without recompiling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use galette_bundle::{
    ACTION_KIND_BITS, ACTIONS_MAP, ActionKind, PROGRAMS_MAP, Placement, STATS_MAP, StatsSlot, action_slot, action_slots,
    entry_slot, slots_per_instance, stats_index,
};
use galette_grammar::{Diagnostic, FileId};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::ir::{ChainIr, Target};
use crate::place::Decision;

/// The program the runtime attaches: where `rx` leads.
pub const ENTRY_PROGRAM: &str = "galette_rx";

/// A generated eBPF crate, ready to be written out and built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedCrate {
    /// The package name; unique per chain content, so two chains never share
    /// an output file in the build cache.
    pub package: String,
    pub cargo_toml: String,
    pub lib_rs: String,
}

impl GeneratedCrate {
    /// The file cargo writes for this crate under the BPF target directory.
    pub fn object_file_name(&self) -> String {
        format!("lib{}.so", self.package.replace('-', "_"))
    }
}

/// What this version of the code generator cannot build yet, as E0900
/// diagnostics pointing at each use. [`generate_ebpf_crate`] must only be
/// called for a chain without any.
pub fn unsupported(chain: &ChainIr, decisions: &[Decision], chain_file: FileId) -> Vec<Diagnostic> {
    let not_yet = |what: &str, span, label: &str| {
        Diagnostic::error("E0900", format!("{what} cannot be built by this version of galettec yet"), chain_file, span, label)
            .with_help("the chain is valid; see docs/language.md for what this version builds")
    };
    let mut found = Vec::new();
    for (instance, decision) in chain.instances.iter().zip(decisions) {
        if decision.placement == Placement::Userland {
            found.push(not_yet("userland NFs", instance.span, &format!("placed in userland: {}", decision.reason)));
        }
        for port in instance.ports.iter().filter(|port| matches!(port.target, Target::Redirect(_))) {
            found.push(not_yet("redirects to an interface role", port.span, "a redirect"));
        }
    }
    for entry in chain.entries.iter().filter(|entry| entry.role.is_some()) {
        found.push(not_yet("per-role entries (`rx.ROLE`)", entry.span, "a per-role entry"));
    }
    for entry in chain.entries.iter().filter(|entry| matches!(entry.target, Target::Redirect(_))) {
        found.push(not_yet("redirects to an interface role", entry.span, "a redirect"));
    }
    found
}

/// Generates the eBPF crate for `chain`, which must have nothing
/// [`unsupported`]. `nf_std_dir` is the `nf-std` crate the NFs were written
/// against.
pub fn generate_ebpf_crate(chain: &ChainIr, nf_std_dir: &Path) -> GeneratedCrate {
    let crates = NfCrates::of(chain);
    let lib_rs = prettyplease::unparse(&syn::parse2::<syn::File>(lib_rs(chain, &crates)).expect("generated code is valid Rust"));
    let mut cargo_toml = cargo_toml_without_name(&crates, nf_std_dir);
    let package = format!("galette-chain-{}-{:016x}", chain.name.replace('_', "-"), fnv1a(&[&lib_rs, &cargo_toml]));
    cargo_toml = cargo_toml.replace("@PACKAGE@", &package);
    GeneratedCrate { package, cargo_toml, lib_rs }
}

/// The distinct NF crates of a chain, each under an alias (`nf_0`, `nf_1`) so
/// two crates with the same package name cannot collide.
struct NfCrates {
    alias_of: BTreeMap<PathBuf, (Ident, String)>,
}

impl NfCrates {
    fn of(chain: &ChainIr) -> NfCrates {
        let mut alias_of = BTreeMap::new();
        for instance in &chain.instances {
            let next = alias_of.len();
            alias_of
                .entry(instance.nf.crate_dir.clone())
                .or_insert_with(|| (format_ident!("nf_{}", next), instance.nf.package.clone()));
        }
        NfCrates { alias_of }
    }

    fn alias(&self, crate_dir: &Path) -> &Ident {
        &self.alias_of[crate_dir].0
    }
}

fn lib_rs(chain: &ChainIr, crates: &NfCrates) -> TokenStream {
    let max_ports = chain.max_ports();
    let instances = chain.instances.len() as u32;
    let stats_entries = (instances * slots_per_instance(max_ports)).max(1);
    let action_entries = action_slots(instances, max_ports);
    let program_entries = instances.max(1);
    let stats_map = Ident::new(STATS_MAP, Span::call_site());
    let actions_map = Ident::new(ACTIONS_MAP, Span::call_site());
    let programs_map = Ident::new(PROGRAMS_MAP, Span::call_site());
    let entry_program = Ident::new(ENTRY_PROGRAM, Span::call_site());
    let entry_slot = entry_slot(instances, max_ports);
    let (kind_bits, tx, pass, abort, next) = (
        ACTION_KIND_BITS,
        ActionKind::Tx as u32,
        ActionKind::Pass as u32,
        ActionKind::Abort as u32,
        ActionKind::Instance as u32,
    );
    let map_statics = map_statics(chain, crates);
    let instance_programs = chain.instances.iter().enumerate().map(|(index, instance)| {
        let program = Ident::new(&instance_program(index), Span::call_site());
        let nf = crates.alias(&instance.nf.crate_dir);
        let call = if instance.bindings.is_empty() {
            quote! { #nf::packet(&mut packet) }
        } else {
            let fields = instance.bindings.iter().map(|binding| {
                let field = Ident::new(&binding.field, Span::call_site());
                let map = map_static(binding.map);
                quote! { #field: &#map }
            });
            quote! { #nf::packet(&mut packet, &mut #nf::Maps { #(#fields),* }) }
        };
        let arms = instance.ports.iter().enumerate().map(|(port, port_ir)| {
            let variant = Ident::new(&port_ir.variant, Span::call_site());
            let port = port as u32;
            quote! { #nf::Action::#variant => #port, }
        });
        let index = index as u32;
        let received = stats_index(index, StatsSlot::Received, max_ports);
        let first_port_counter = stats_index(index, StatsSlot::Port(0), max_ports);
        let missed = stats_index(index, StatsSlot::MissedTailCall, max_ports);
        let first_slot = action_slot(index, 0, max_ports);
        let doc = format!("Instance `{}` ({}).", instance.name, instance.source);
        quote! {
            #[doc = #doc]
            #[xdp]
            pub fn #program(ctx: XdpContext) -> u32 {
                count(#received);
                let port: u32 = {
                    let mut packet = XdpPacket::new(&ctx);
                    match #call {
                        #(#arms)*
                    }
                };
                count(#first_port_counter + port);
                follow(&ctx, #first_slot + port, #missed)
            }
        }
    });
    let header = format!("Generated by galettec {} from chain `{}`. Do not edit.", env!("CARGO_PKG_VERSION"), chain.name);
    quote! {
        #![doc = #header]
        #![no_std]

        use aya_ebpf::bindings::xdp_action;
        use aya_ebpf::macros::{map, xdp};
        use aya_ebpf::maps::{Array, PerCpuArray, ProgramArray};
        use aya_ebpf::programs::XdpContext;
        use nf_std::xdp::XdpPacket;

        /// Per-instance counters; the layout is `galette_bundle::stats_index`.
        #[map]
        static #stats_map: PerCpuArray<u64> = PerCpuArray::with_max_entries(#stats_entries, 0);

        /// Where each port leads; filled by the runtime, see
        /// `galette_bundle::action_slot`. All zeros (drop) until then.
        #[map]
        static #actions_map: Array<u32> = Array::with_max_entries(#action_entries, 0);

        /// One program per instance, by instance index; filled by the runtime.
        #[map]
        static #programs_map: ProgramArray = ProgramArray::with_max_entries(#program_entries, 0);

        #(#map_statics)*

        #[inline(always)]
        fn count(index: u32) {
            if let Some(counter) = #stats_map.get_ptr_mut(index) {
                // SAFETY: the pointer is to this CPU's slot of a live map
                // entry, and nothing else on this CPU runs concurrently.
                unsafe { *counter += 1 };
            }
        }

        /// Carries out the action in `slot` of the action table. `missed`
        /// is the counter of failed tail calls of the calling instance.
        #[inline(always)]
        fn follow(ctx: &XdpContext, slot: u32, missed: u32) -> u32 {
            let Some(code) = #actions_map.get(slot) else { return xdp_action::XDP_ABORTED };
            let code = *code;
            match code & ((1 << #kind_bits) - 1) {
                #tx => xdp_action::XDP_TX,
                #pass => xdp_action::XDP_PASS,
                #abort => xdp_action::XDP_ABORTED,
                #next => {
                    // SAFETY: a tail call either jumps (never returns) or
                    // fails and returns; the context is the program's own.
                    let _ = unsafe { #programs_map.tail_call(ctx, code >> #kind_bits) };
                    count(missed);
                    xdp_action::XDP_DROP
                }
                _ => xdp_action::XDP_DROP,
            }
        }

        /// Attached to the interface: goes where `rx` leads.
        #[xdp]
        pub fn #entry_program(ctx: XdpContext) -> u32 {
            follow(&ctx, #entry_slot, u32::MAX)
        }

        #(#instance_programs)*

        #[panic_handler]
        fn panic(_info: &core::panic::PanicInfo) -> ! {
            // NF code is bounds-checked without panicking paths; the verifier
            // would reject a program that could reach this loop.
            loop {}
        }

        /// The kernel only lets GPL-compatible programs use some helpers.
        #[unsafe(link_section = "license")]
        #[unsafe(no_mangle)]
        static LICENSE: [u8; 4] = *b"GPL\0";
    }
}

/// The program of XDP instance `index`. By index, not by name: the kernel
/// keeps 15 characters of a program's name.
pub fn instance_program(index: usize) -> String {
    format!("galette_nf_{index}")
}

/// The static holding chain map `index`.
fn map_static(index: usize) -> Ident {
    format_ident!("MAP_{}", index)
}

/// One static per chain map that some instance binds, named after the map in
/// the object (which is how the runtime finds it). Its type is the one the
/// first NF binding it gives its field; the checker made sure every NF
/// binding it agrees. A map nobody binds has no type and is left out.
fn map_statics(chain: &ChainIr, crates: &NfCrates) -> Vec<TokenStream> {
    chain
        .maps
        .iter()
        .enumerate()
        .filter_map(|(index, map)| {
            let (instance, binding) = chain
                .instances
                .iter()
                .find_map(|instance| instance.bindings.iter().find(|b| b.map == index).map(|b| (instance, b)))?;
            let nf = crates.alias(&instance.nf.crate_dir);
            let field = Ident::new(&binding.field, Span::call_site());
            let ty = quote! { #nf::__galette_map_types::#field };
            let name = &map.name;
            let capacity = map.capacity as u32;
            let static_name = map_static(index);
            Some(quote! {
                #[unsafe(link_section = "maps")]
                #[unsafe(export_name = #name)]
                static #static_name: #ty = <#ty>::with_max_entries(#capacity);
            })
        })
        .collect()
}

fn cargo_toml_without_name(crates: &NfCrates, nf_std_dir: &Path) -> String {
    let mut toml = String::from(
        r#"# Generated by galettec. Do not edit.
[package]
name = "@PACKAGE@"
version = "0.0.0"
# 2021: the aya-ebpf 0.1 macros emit attributes that edition 2024 rejects.
edition = "2021"
rust-version = "1.95"
publish = false

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[dependencies]
aya-ebpf = "=0.1.1"
"#,
    );
    toml.push_str(&format!("nf-std = {{ path = {:?} }}\n", nf_std_dir.display().to_string()));
    for (dir, (alias, package)) in &crates.alias_of {
        toml.push_str(&format!("{alias} = {{ package = {package:?}, path = {:?} }}\n", dir.display().to_string()));
    }
    toml.push_str(
        r#"
[profile.release]
panic = "abort"
opt-level = 3
codegen-units = 1
debug = false

[profile.dev]
panic = "abort"

# Its own workspace: the crate is built outside any project.
[workspace]
resolver = "3"
"#,
    );
    toml
}

/// A small stable hash (FNV-1a, 64 bits) of the generated text: names the
/// crate after its content. Not for security; the bundle uses SHA-256.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

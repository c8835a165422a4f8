//! Code generation: the Rust source of the crate that becomes the chain's
//! eBPF object.
//!
//! Every segment (see [`crate::segments`]) is one XDP program. Each XDP
//! instance is a step function: it calls its NF's `packet`, and on the
//! `Action` the NF returns counts the port (the packets an XDP instance
//! received are the sum of its ports: see `galette_bundle::StatsSlot`) and goes on
//! where the port leads, all compiled in: the next NF's step (fused into the
//! same program, inlined or as a BPF-to-BPF call, see [`Fusion`]), a
//! constant-index tail call into the next segment where the chain was split,
//! an upcall, a redirect or a verdict. A program looks its CPU's counters up
//! once, at its start. What every chain shares (the fixed maps, upcalls,
//! redirects, the panic handler, the licence) is the `galette-chain` crate
//! in `nf-std/chain`; what is generated is only what depends on the chain.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use galette_bundle::{
    DropReason, PROGRAMS_MAP, STATS_ENTRIES, STATS_MAP, StatsSlot, drop_index, stats_index, stats_slots,
};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::cargo_manifest::{CrateTarget, Dependency, cdylib_manifest};
use crate::ir::Target;
use crate::place::PlacedChain;
use crate::segments::{SegmentStart, entry_link, segments};

/// The program the runtime attaches: where `rx` leads.
pub const ENTRY_PROGRAM: &str = "galette_rx";

/// How the NFs of one segment are joined in its program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fusion {
    /// Every step inlined into the program (`#[inline(always)]`): one
    /// function the verifier walks once per path. Measured the faster (see
    /// docs/benchmarks.md, "Chain cost").
    #[default]
    Inline,
    /// Every step its own BPF-to-BPF function (`#[inline(never)]`).
    Calls,
}

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

/// Generates the eBPF crate for `placed`, which must have nothing
/// [`unsupported`](crate::place::unsupported). `nf_std_dir` is the `nf-std`
/// crate the NFs were written against.
pub fn generate_ebpf_crate(placed: &PlacedChain, nf_std_dir: &Path, fusion: Fusion) -> GeneratedCrate {
    let chain = &placed.chain;
    let crates = NfCrates::of(placed);
    let lib_rs = prettyplease::unparse(
        &syn::parse2::<syn::File>(lib_rs(placed, &crates, fusion)).expect("generated code is valid Rust"),
    );
    let mut cargo_toml = cargo_toml_without_name(&crates, nf_std_dir);
    let package =
        format!("galette-chain-{}-{:016x}", chain.name.replace('_', "-"), content_hash(&[&lib_rs, &cargo_toml]));
    cargo_toml = cargo_toml.replace(PACKAGE_PLACEHOLDER, &package);
    GeneratedCrate { package, cargo_toml, lib_rs }
}

/// The distinct NF crates of a chain, each under an alias (`nf_0`, `nf_1`) so
/// two crates with the same package name cannot collide.
struct NfCrates {
    alias_of: BTreeMap<PathBuf, (Ident, String)>,
}

impl NfCrates {
    /// The crates of the instances that run in XDP (only those are built
    /// for BPF; a userland NF may need std), and of the userland instances
    /// that give a map its type (see [`PlacedChain::map_owner`]).
    fn of(placed: &PlacedChain) -> NfCrates {
        let chain = &placed.chain;
        let mut alias_of = BTreeMap::new();
        let owners: Vec<usize> = (0..chain.maps.len()).filter_map(|map| placed.map_owner(map)).collect();
        let built = chain
            .instances
            .iter()
            .enumerate()
            .filter(|(index, _)| placed.runs_in_xdp(*index) || owners.contains(index));
        for (_, instance) in built {
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

fn lib_rs(placed: &PlacedChain, crates: &NfCrates, fusion: Fusion) -> TokenStream {
    let chain = &placed.chain;
    let max_ports = chain.max_ports();
    let instances = chain.instances.len() as u32;
    let slots = stats_slots(instances, max_ports) as usize;
    let drops = drop_index(DropReason::ALL[0], instances, max_ports) as usize;
    let stats_map = Ident::new(STATS_MAP, Span::call_site());
    let programs_map = Ident::new(PROGRAMS_MAP, Span::call_site());
    let program_entries = instances.max(1);
    let map_statics = map_statics(placed, crates);
    let exits = Exits { placed };
    let programs = segments(placed).into_iter().map(|segment| {
        let program = Ident::new(&segment.program, Span::call_site());
        let (doc, body) = match segment.start {
            SegmentStart::Entry => (
                "Attached to the interface: starts where `rx` leads.".to_owned(),
                exits.entry(entry_link(chain, None)),
            ),
            SegmentStart::RoleEntry(role) => {
                let name = &chain.roles[role].name;
                let doc = format!("Attached to the interface of role `{name}`: starts where `rx.{name}` leads.");
                (doc, exits.entry(entry_link(chain, Some(role))))
            }
            SegmentStart::Split(index) => {
                let step = step_fn(index);
                let doc = format!(
                    "The segment that starts at `{}`, entered by a tail call (the XDP part was split here).",
                    chain.instances[index].name
                );
                (doc, quote! { #step(&ctx, counters) })
            }
        };
        let fused: Vec<&str> = segment.instances.iter().map(|&index| chain.instances[index].name.as_str()).collect();
        let fused = if fused.is_empty() { String::new() } else { format!(" Fuses {}.", fused.join(", ")) };
        let doc = format!("{doc}{fused}");
        // A program that only gives a verdict counts nothing.
        let counts = match segment.start {
            SegmentStart::Entry => Exits::counts(entry_link(chain, None)),
            SegmentStart::RoleEntry(role) => Exits::counts(entry_link(chain, Some(role))),
            SegmentStart::Split(_) => true,
        };
        let counters = counts.then(|| {
            quote! { let Some(counters) = galette_chain::counters(&#stats_map) else { return xdp_action::XDP_ABORTED }; }
        });
        quote! {
            #[doc = #doc]
            #[xdp]
            pub fn #program(ctx: XdpContext) -> u32 {
                #counters
                #body
            }
        }
    });
    let inline = match fusion {
        Fusion::Inline => quote! { #[inline(always)] },
        Fusion::Calls => quote! { #[inline(never)] },
    };
    let steps =
        chain.instances.iter().enumerate().filter(|(index, _)| placed.runs_in_xdp(*index)).map(|(index, instance)| {
            let step = step_fn(index);
            let nf = crates.alias(&instance.nf.crate_dir);
            let call = if instance.bindings.is_empty() {
                quote! { #nf::packet(&mut packet) }
            } else {
                let fields = instance.bindings.iter().map(|binding| {
                    let field = Ident::new(&binding.field, Span::call_site());
                    let map = map_static(binding.map);
                    quote! { #field: &#map }
                });
                let maps_struct = maps_struct_ident(&instance.nf);
                quote! { #nf::packet(&mut packet, &mut #nf::#maps_struct { #(#fields),* }) }
            };
            let index = index as u32;
            let missed = stats_index(index, StatsSlot::MissedTailCall, max_ports) as usize;
            let arms = instance.ports.iter().enumerate().map(|(port, port_ir)| {
                let variant = Ident::new(&port_ir.variant, Span::call_site());
                let counter = stats_index(index, StatsSlot::Port(port as u32), max_ports);
                let leave = exits.leave(Some((port_ir.target, port_ir.upcall)), quote! { ctx }, counter, Some(missed));
                let counter = counter as usize;
                quote! {
                    #nf::Action::#variant => {
                        counters[#counter] += 1;
                        #leave
                    }
                }
            });
            let doc = format!("Instance `{}` ({}).", instance.name, instance.source);
            quote! {
                #[doc = #doc]
                #inline
                fn #step(ctx: &XdpContext, counters: &mut Counters) -> u32 {
                    let mut packet = XdpPacket::new(ctx);
                    match #call {
                        #(#arms)*
                    }
                }
            }
        });
    let header =
        format!("Generated by galettec {} from chain `{}`. Do not edit.", env!("CARGO_PKG_VERSION"), chain.name);
    let stats_entries = STATS_ENTRIES;
    quote! {
        #![doc = #header]
        #![no_std]

        use aya_ebpf::bindings::xdp_action;
        use aya_ebpf::macros::{map, xdp};
        use aya_ebpf::maps::{PerCpuArray, ProgramArray};
        use aya_ebpf::programs::XdpContext;
        use nf_std::xdp::XdpPacket;

        /// This CPU's counters of the chain, laid out as
        /// `galette_bundle::stats_index` says.
        type Counters = [u64; #slots];

        /// The first of the chain's drop counters (`galette_bundle::drop_index`).
        const DROPS: usize = #drops;

        /// The chain's counters: one lookup per packet and segment (see
        /// `galette_bundle::STATS_XDP_ENTRY`).
        #[map]
        static #stats_map: PerCpuArray<Counters> = PerCpuArray::with_max_entries(#stats_entries, 0);

        /// The segments entered by a tail call, by the index of the instance
        /// each starts with; filled by the runtime.
        #[map]
        static #programs_map: ProgramArray = ProgramArray::with_max_entries(#program_entries, 0);

        #(#map_statics)*

        #(#programs)*

        #(#steps)*
    }
}

/// How a step leaves for where a port (or `rx`) leads, as code: the next
/// NF's step (fused), a tail call into a split, an upcall, a redirect or a
/// verdict.
struct Exits<'a> {
    placed: &'a PlacedChain,
}

impl Exits<'_> {
    /// Whether leaving for where `entry` leads counts anything: all but a
    /// plain verdict do (a port, or a drop when delivery fails).
    fn counts(entry: Option<&crate::ir::EntryIr>) -> bool {
        entry.is_some_and(|entry| matches!(entry.target, Target::Instance(_) | Target::Redirect(_)))
    }

    /// Where the entry `entry` leads, from an entry program.
    fn entry(&self, entry: Option<&crate::ir::EntryIr>) -> TokenStream {
        self.leave(entry.map(|entry| (entry.target, entry.upcall)), quote! { &ctx }, u32::MAX, None)
    }

    /// `ctx` is how the code there names the `&XdpContext`, `from` the
    /// counter of the port being left (what an upcall carries up), `missed`
    /// the counter of failed tail calls of the instance left, `None` from an
    /// entry program. `None` as the target: no link, so drop.
    fn leave(&self, target: Option<(Target, bool)>, ctx: TokenStream, from: u32, missed: Option<usize>) -> TokenStream {
        let Some((target, upcall)) = target else { return quote! { xdp_action::XDP_DROP } };
        match target {
            Target::Tx => quote! { xdp_action::XDP_TX },
            Target::Pass => quote! { xdp_action::XDP_PASS },
            Target::Drop => quote! { xdp_action::XDP_DROP },
            Target::Abort => quote! { xdp_action::XDP_ABORTED },
            Target::Redirect(role) => {
                let role = role as u32;
                quote! { galette_chain::redirect(counters, DROPS, #role) }
            }
            Target::Instance(next) if upcall || !self.placed.runs_in_xdp(next) => {
                let next = next as u16;
                quote! { galette_chain::upcall(#ctx, counters, DROPS, #next, #from) }
            }
            Target::Instance(next) if self.placed.starts_segment(next) => {
                let programs_map = Ident::new(PROGRAMS_MAP, Span::call_site());
                let next = next as u32;
                let count_missed = missed.map(|missed| quote! { counters[#missed] += 1; });
                quote! {{
                    galette_chain::jump(#ctx, &#programs_map, #next);
                    #count_missed
                    xdp_action::XDP_DROP
                }}
            }
            Target::Instance(next) => {
                let step = step_fn(next);
                quote! { #step(#ctx, counters) }
            }
        }
    }
}

/// The function that runs XDP instance `index` and what follows it in its
/// segment.
fn step_fn(index: usize) -> Ident {
    format_ident!("step_{}", index)
}

/// The entry program of interface role `role` (by index: the kernel keeps
/// 15 characters of a program's name).
pub fn role_entry_program(role: usize) -> String {
    format!("galette_rx_{role}")
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

/// One static per chain map that has an owner (see [`PlacedChain::map_owner`]), named
/// after the map in the object (which is how the runtime finds it). Its type
/// is the one the owner's NF gives its field; the checker made sure every NF
/// binding it agrees.
fn map_statics(placed: &PlacedChain, crates: &NfCrates) -> Vec<TokenStream> {
    let chain = &placed.chain;
    chain
        .maps
        .iter()
        .enumerate()
        .filter_map(|(index, map)| {
            let instance = &chain.instances[placed.map_owner(index)?];
            let binding = instance.bindings.iter().find(|b| b.map == index)?;
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
    let mut dependencies =
        vec![Dependency::path("nf-std", nf_std_dir), Dependency::path("galette-chain", &shared_crate_dir(nf_std_dir))];
    for (dir, (alias, package)) in &crates.alias_of {
        dependencies.push(Dependency::renamed(&alias.to_string(), package, dir));
    }
    cdylib_manifest(PACKAGE_PLACEHOLDER, &dependencies, CrateTarget::Bpf)
}

/// The shared eBPF crate of every chain, `galette-chain`, which lives in
/// nf-std's directory (so the build cache, which follows nf-std's sources,
/// follows it too).
pub fn shared_crate_dir(nf_std_dir: &Path) -> PathBuf {
    nf_std_dir.join("chain")
}

/// The package name in a generated manifest until the crate's content, and
/// so its name, is known.
pub(crate) const PACKAGE_PLACEHOLDER: &str = "@PACKAGE@";

/// A small stable hash (FNV-1a, 64 bits) of generated text: names a
/// generated crate after its content. Not for security; the bundle uses
/// SHA-256.
pub(crate) fn content_hash(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The name of the NF's `#[maps]` struct, which the generated code builds.
pub(crate) fn maps_struct_ident(nf: &crate::signature::NfSignature) -> Ident {
    Ident::new(nf.maps_struct.as_deref().unwrap_or("Maps"), Span::call_site())
}

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
    ACTION_KIND_BITS, ACTIONS_MAP, ActionKind, CONFIG_GENERATION, CONFIG_MAP, CONFIG_SLOTS, CONFIG_WORKERS, DEVS_MAP,
    MAX_ROLES, PROGRAMS_MAP, STATS_MAP, StatsSlot, UpcallMetadata, XSK_BASES_MAP, XSKS_CAPACITY, XSKS_MAP, action_slot,
    action_slots, entry_slot, role_entry_slot, slots_per_instance, stats_index,
};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::cargo_manifest::{CrateTarget, Dependency, cdylib_manifest};
use crate::ir::Target;
use crate::place::PlacedChain;

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

/// Generates the eBPF crate for `placed`, which must have nothing
/// [`unsupported`](crate::place::unsupported). `nf_std_dir` is the `nf-std`
/// crate the NFs were written against.
pub fn generate_ebpf_crate(placed: &PlacedChain, nf_std_dir: &Path) -> GeneratedCrate {
    let chain = &placed.chain;
    let crates = NfCrates::of(placed);
    let lib_rs = prettyplease::unparse(
        &syn::parse2::<syn::File>(lib_rs(placed, &crates)).expect("generated code is valid Rust"),
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

fn lib_rs(placed: &PlacedChain, crates: &NfCrates) -> TokenStream {
    let chain = &placed.chain;
    let in_xdp: &[bool] = &(0..chain.instances.len()).map(|index| placed.runs_in_xdp(index)).collect::<Vec<_>>();
    let max_ports = chain.max_ports();
    let instances = chain.instances.len() as u32;
    let stats_entries = (instances * slots_per_instance(max_ports)).max(1);
    let action_entries = action_slots(instances, max_ports, chain.roles.len() as u32);
    let program_entries = instances.max(1);
    let stats_map = Ident::new(STATS_MAP, Span::call_site());
    let actions_map = Ident::new(ACTIONS_MAP, Span::call_site());
    let programs_map = Ident::new(PROGRAMS_MAP, Span::call_site());
    let entry_program = Ident::new(ENTRY_PROGRAM, Span::call_site());
    let entry_slot = entry_slot(instances, max_ports);
    let (kind_bits, tx, pass, abort, next, up, out) = (
        ACTION_KIND_BITS,
        ActionKind::Tx as u32,
        ActionKind::Pass as u32,
        ActionKind::Abort as u32,
        ActionKind::Instance as u32,
        ActionKind::Upcall as u32,
        ActionKind::Redirect as u32,
    );
    let devs_map = Ident::new(DEVS_MAP, Span::call_site());
    let max_roles = MAX_ROLES;
    let role_programs = (0..chain.roles.len() as u32).map(|role| {
        let program = Ident::new(&role_entry_program(role as usize), Span::call_site());
        let slot = role_entry_slot(instances, max_ports, role);
        let entry = chain
            .entries
            .iter()
            .find(|entry| entry.role == Some(role as usize))
            .or_else(|| chain.entries.iter().find(|entry| entry.role.is_none()));
        let leave = leave(entry.map(|entry| (entry.target, entry.upcall)), in_xdp, slot, u32::MAX);
        let doc = format!(
            "Attached to the interface of role `{}`: goes where `rx.{}` leads.",
            chain.roles[role as usize].name, chain.roles[role as usize].name
        );
        quote! {
            #[doc = #doc]
            #[xdp]
            pub fn #program(ctx: XdpContext) -> u32 {
                #leave
            }
        }
    });
    let common_entry =
        chain.entries.iter().find(|entry| entry.role.is_none()).map(|entry| (entry.target, entry.upcall));
    let entry_leave = leave(common_entry, in_xdp, entry_slot, u32::MAX);
    let xsks_map = Ident::new(XSKS_MAP, Span::call_site());
    let xsk_bases_map = Ident::new(XSK_BASES_MAP, Span::call_site());
    let xsks_capacity = XSKS_CAPACITY;
    let config_map = Ident::new(CONFIG_MAP, Span::call_site());
    let (config_workers, metadata_len) = (CONFIG_WORKERS, std::mem::size_of::<UpcallMetadata>() as i32);
    let (config_generation, config_slots) = (CONFIG_GENERATION, CONFIG_SLOTS);
    let map_statics = map_statics(placed, crates);
    let instance_programs =
        chain.instances.iter().enumerate().filter(|(index, _)| in_xdp[*index]).map(|(index, instance)| {
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
                let maps_struct = maps_struct_ident(&instance.nf);
                quote! { #nf::packet(&mut packet, &mut #nf::#maps_struct { #(#fields),* }) }
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
            let dispatch = instance.ports.iter().enumerate().map(|(port, port_ir)| {
                let leave = leave(
                    Some((port_ir.target, port_ir.upcall)),
                    in_xdp,
                    action_slot(index, port as u32, max_ports),
                    missed,
                );
                let port = port as u32;
                quote! { #port => #leave, }
            });
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
                    match port {
                        #(#dispatch)*
                        _ => xdp_action::XDP_ABORTED,
                    }
                }
            }
        });
    let header =
        format!("Generated by galettec {} from chain `{}`. Do not edit.", env!("CARGO_PKG_VERSION"), chain.name);
    quote! {
        #![doc = #header]
        #![no_std]

        use aya_ebpf::bindings::xdp_action;
        use aya_ebpf::helpers::{bpf_get_prandom_u32, bpf_xdp_adjust_meta};
        use aya_ebpf::macros::{map, xdp};
        use aya_ebpf::maps::{Array, DevMap, HashMap, PerCpuArray, ProgramArray, XskMap};
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

        /// The userland workers' AF_XDP sockets, `MAX_WORKERS` slots per
        /// interface; filled by the runtime.
        #[map]
        static #xsks_map: XskMap = XskMap::with_max_entries(#xsks_capacity, 0);

        /// Per interface index, its first slot in the socket map; filled by
        /// the runtime.
        #[map]
        static #xsk_bases_map: HashMap<u32, u32> = HashMap::with_max_entries(#max_roles, 0);

        /// Per interface role, the interface it runs on; filled by the
        /// runtime (`--iface ROLE=IF`).
        #[map]
        static #devs_map: DevMap = DevMap::with_max_entries(#max_roles, 0);

        /// Run-time settings (`galette_bundle::CONFIG_WORKERS`: how many
        /// worker sockets there are; `CONFIG_GENERATION`: which load of the
        /// chain this object is).
        #[map]
        static #config_map: Array<u32> = Array::with_max_entries(#config_slots, 0);

        #(#map_statics)*

        #[inline(always)]
        fn count(index: u32) {
            if let Some(counter) = #stats_map.get_ptr_mut(index) {
                // SAFETY: the pointer is to this CPU's slot of a live map
                // entry, and nothing else on this CPU runs concurrently.
                unsafe { *counter += 1 };
            }
        }

        /// Tail-calls XDP instance `instance`, a constant at every call site:
        /// the kernel then patches a direct jump in, where a key read from a
        /// map costs an indirect one (a retpoline, on many machines).
        /// `missed` is the counter of failed tail calls of the caller.
        #[inline(always)]
        fn jump(ctx: &XdpContext, instance: u32, missed: u32) -> u32 {
            // SAFETY: a tail call either jumps (never returns) or fails and
            // returns; the context is the program's own.
            let _ = unsafe { #programs_map.tail_call(ctx, instance) };
            count(missed);
            xdp_action::XDP_DROP
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
                #up => upcall(ctx, code >> #kind_bits, slot),
                #out => match #devs_map.redirect(code >> #kind_bits, 0) {
                    Ok(action) => action,
                    Err(_) => xdp_action::XDP_DROP,
                },
                _ => xdp_action::XDP_DROP,
            }
        }

        /// Hands the packet to userland: writes `galette_bundle::UpcallMetadata`
        /// (the instance to run next, this object's generation, the slot that
        /// sent it) in front of the
        /// frame and redirects it into one of the AF_XDP sockets of the
        /// interface and RX queue it came in on, chosen at random. Without
        /// workers, the packet is dropped.
        #[inline(always)]
        fn upcall(ctx: &XdpContext, instance: u32, slot: u32) -> u32 {
            let workers = match #config_map.get(#config_workers) {
                Some(&workers) if workers > 0 => workers,
                _ => return xdp_action::XDP_DROP,
            };
            let generation = #config_map.get(#config_generation).copied().unwrap_or(0);
            // SAFETY: a helper given the program's own context.
            if unsafe { bpf_xdp_adjust_meta(ctx.ctx, -#metadata_len) } != 0 {
                return xdp_action::XDP_ABORTED;
            }
            let (meta, data) = (ctx.metadata(), ctx.data());
            if meta + #metadata_len as usize > data {
                return xdp_action::XDP_ABORTED;
            }
            // SAFETY: the check above proves all three fields lie between
            // the metadata's start and the frame's start.
            unsafe {
                *(meta as *mut u16) = instance as u16;
                *((meta + 2) as *mut u16) = generation as u16;
                *((meta + 4) as *mut u32) = slot;
            }
            // SAFETY: the context is the program's own, valid for its run.
            let (ingress, queue) = unsafe { ((*ctx.ctx).ingress_ifindex, (*ctx.ctx).rx_queue_index) };
            // SAFETY: the value is a plain u32 the runtime wrote.
            let Some(&first) = (unsafe { #xsk_bases_map.get(&ingress) }) else { return xdp_action::XDP_DROP };
            // The kernel delivers only to a socket bound to the packet's own
            // queue: the interface's sockets are `workers` per queue.
            // SAFETY: a helper without preconditions.
            let socket = first + queue * workers + unsafe { bpf_get_prandom_u32() } % workers;
            match #xsks_map.redirect(socket, 0) {
                Ok(action) => action,
                Err(_) => xdp_action::XDP_DROP,
            }
        }

        /// Attached to the interface: goes where `rx` leads.
        #[xdp]
        pub fn #entry_program(ctx: XdpContext) -> u32 {
            #entry_leave
        }

        #(#role_programs)*

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

/// How a program leaves for `target` (`None`: no link, so the table's drop):
/// a tail call with a constant key to an XDP instance (see `jump` in the
/// generated code), else the action in table `slot`, which the runtime
/// fills from the manifest (tx, pass, drop, abort, upcalls, redirects).
fn leave(target: Option<(Target, bool)>, in_xdp: &[bool], slot: u32, missed: u32) -> TokenStream {
    match target {
        Some((Target::Instance(next), false)) if in_xdp.get(next) == Some(&true) => {
            let next = next as u32;
            quote! { jump(&ctx, #next, #missed) }
        }
        _ => quote! { follow(&ctx, #slot, #missed) },
    }
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
    let mut dependencies = vec![Dependency::path("nf-std", nf_std_dir)];
    for (dir, (alias, package)) in &crates.alias_of {
        dependencies.push(Dependency::renamed(&alias.to_string(), package, dir));
    }
    cdylib_manifest(PACKAGE_PLACEHOLDER, &dependencies, CrateTarget::Bpf)
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

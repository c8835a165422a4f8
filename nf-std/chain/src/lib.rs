//! `galette-chain`: the eBPF code every chain galettec generates shares.
//!
//! A generated chain crate holds only what depends on the chain: its NF
//! maps, its counters (whose size is the chain's), its program array, and
//! one XDP program per segment (a run of NFs fused into one program, see
//! `docs/architecture.md`). Everything else is here, written and reviewed
//! once: the maps whose size never depends on the chain (the AF_XDP sockets,
//! the interfaces of each role, the run-time settings), how a packet is
//! handed to userland ([`upcall`]), redirected out of another interface
//! ([`redirect`]) or passed to the next segment ([`jump`]), how a program
//! finds its counters ([`counters`]), the panic handler and the licence.
//!
//! The names and sizes of the maps are the ones `galette_bundle` gives the
//! runtime (`XSKS_MAP`, `MAX_ROLES`, ...); galettec's tests check that they
//! agree. The crate has content only when built for the BPF target.
#![no_std]

#[cfg(target_arch = "bpf")]
mod xdp;

#[cfg(target_arch = "bpf")]
pub use xdp::*;

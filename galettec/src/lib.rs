//! `galettec`, the Galette compiler, as a library.
//!
//! The stages, each a module with one job and a plain data type between them:
//!
//! ```text
//! .gal ─► grammar::parse ─► signature (NF crates, syn; layout of map types) ─► check ─► place
//!      ─► segments ─► codegen (eBPF crate source) ─► ebpf_build (cargo) ─► verify ─► bundle
//!                 ▲                                                          │
//!                 └────────────── split a segment the verifier rejects ◄──────┘
//! ```
//!
//! Architecture invariant: `signature`, `check` and `place` are pure. They read
//! sources only through [`source::SourceReader`] and return diagnostics as
//! values; only `ebpf_build` and `compile` touch the world.
// Diagnostics travel in `Err` on the cold path of a compile; their size
// costs nothing that matters, and boxing them would only add noise.
#![allow(clippy::result_large_err)]

mod build_cache;
pub mod cargo_manifest;
pub mod check;
pub mod codegen;
pub mod codegen_userland;
pub mod codes;
pub mod compile;
pub mod ebpf_build;
pub mod explain;
pub mod ir;
pub mod layout;
pub mod lsp;
pub mod place;
pub mod render;
pub mod segments;
pub mod signature;
pub mod source;
mod suggest;
pub mod verify;

pub use compile::{Checked, CompileError, CompileOptions, Compiled, check_chain, compile_chain};

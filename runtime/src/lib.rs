//! The `galette` runtime as a library: everything `galette run` does between
//! reading a bundle and detaching it again.
//!
//! Architecture invariant: whatever the runtime attaches to an interface, it
//! attaches through a bpf_link owned by this process, so the kernel detaches
//! it when the process ends for any reason, SIGKILL included.

pub mod agent;
pub mod attach;
pub mod bundle_source;
pub mod control;
pub mod counters;
pub mod error;
pub mod interface;
pub mod kernel_features;
pub mod kernel_map;
pub mod loader;
pub mod map_command;
pub mod map_text;
pub mod metrics;
pub mod pins;
pub mod privileges;
pub mod reload;
pub mod shutdown;
pub mod stats;
pub mod trust;
pub mod userland;
pub mod xdp_link;

pub use error::RunError;

//! Real test networks for Galette's end-to-end tests, demo and benchmarks.
//!
//! Everything here needs root: it creates network namespaces joined by veth
//! pairs ([`VethPair`]), attaches XDP programs ([`attach_xdp_pass`]), and
//! sends and receives Ethernet frames on those interfaces ([`RawSocket`],
//! built with [`frame::UdpFrame`]). All traffic stays inside the namespaces
//! it creates, which use addresses from 198.18.0.0/15, the range set aside
//! for network benchmarking. [`thread_receive_processing`] moves an
//! interface's receive processing onto CPUs of its own (threaded NAPI), and
//! [`set_thread_affinity`] keeps a thread, a sender for one, on others.

mod bpffs;
mod command;
mod cpu;
pub mod frame;
mod gateway;
mod link;
mod napi;
mod netns;
mod raw_socket;
mod reflect;
mod stream;
mod veth;
mod xdp_pass;

pub use bpffs::TestBpffs;
pub use cpu::{allowed_cpus, last_cpu, set_thread_affinity, thread_affinity, thread_run_ns};
pub use gateway::GatewayTopology;
pub use link::{LinkInfo, link_info, xdp_program_attached};
pub use napi::{NapiInstance, napi_instances, thread_receive_processing};
pub use netns::{NetworkNamespace, run_in_netns, unique_namespace_prefix};
pub use raw_socket::RawSocket;
pub use reflect::{ReflectReport, probe_reflector};
pub use stream::{SequencedStream, StreamPlan, StreamReport};
pub use veth::{VethPair, VethSide};
pub use xdp_pass::{XdpPassProgram, attach_xdp_pass};

#![no_std]
use nf_std::maps::{LruHash, SourceKey};

#[repr(C)]
#[derive(Clone, Copy)]
pub struct FlowStats {
    pub packets: u64,
    pub bytes: u64,
}

#[nf_std::maps]
pub struct Maps {
    flows: LruHash<SourceKey, FlowStats>,
}

pub enum Action { Out }

pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action { Action::Out }

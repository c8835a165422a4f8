#![no_std]
use nf_std::maps::{LpmTrie, LruHash};

#[nf_std::maps]
struct Maps {
    flows: LruHash<FlowKey, FlowStats>,
    allow: LpmTrie<Ipv4Prefix, u8>,
}

pub enum Action { Out }

pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action { Action::Out }

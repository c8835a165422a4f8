#![no_std]
pub enum Action { Out }
pub fn packet<P: Packet>(pkt: &mut P) -> Action { Action::Out }

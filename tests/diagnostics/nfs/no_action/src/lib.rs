#![no_std]
pub enum Verdict { Out }
pub fn packet<P: Packet>(pkt: &mut P) -> Verdict { Verdict::Out }

#![no_std]
pub enum Action {
    Out,
    Mark(u32),
}
pub fn packet<P: Packet>(pkt: &mut P) -> Action { Action::Out }

/// A packet as an NF sees it: a run of bytes with a length.
///
/// Every access is bounds-checked and returns `None` when the packet is too
/// short. Accessors take a *constant-sized* window (`[u8; N]`) so that, in XDP,
/// the check compiles to the `data + offset + N > data_end` comparison the
/// kernel verifier needs to see before it allows the access.
pub trait Packet {
    /// The packet's length in bytes.
    fn len(&self) -> usize;

    /// Whether the packet has no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `N` bytes starting at `offset`, or `None` if they are not all inside
    /// the packet.
    fn bytes<const N: usize>(&self, offset: usize) -> Option<&[u8; N]>;

    /// Mutable `N` bytes starting at `offset`, or `None` if they are not all
    /// inside the packet.
    fn bytes_mut<const N: usize>(&mut self, offset: usize) -> Option<&mut [u8; N]>;
}

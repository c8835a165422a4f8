/// A packet as an NF sees it: a run of bytes with a length.
///
/// Every access is bounds-checked and returns `None` when the packet is too
/// short. Accessors take a *constant-sized* window (`[u8; N]`) so that, in XDP,
/// the check compiles to the `data + offset + N > data_end` comparison the
/// kernel verifier needs to see before it allows the access. Offsets above
/// [`Packet::MAX_OFFSET`] are refused, which gives the verifier a bound for
/// offsets computed from packet contents (such as an IPv4 header length).
pub trait Packet {
    /// The largest offset a window may start at.
    const MAX_OFFSET: usize = 0x3fff;

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

    /// Moves the start of the packet by `delta` bytes: negative grows it at
    /// the front (room for a new header), positive removes bytes from the
    /// front. Windows taken before are invalid afterwards.
    fn adjust_head(&mut self, delta: i32) -> Result<(), AdjustError>;

    /// Moves the end of the packet by `delta` bytes: positive grows it,
    /// negative trims it.
    fn adjust_tail(&mut self, delta: i32) -> Result<(), AdjustError>;
}

/// The packet could not be grown or shrunk that much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdjustError;

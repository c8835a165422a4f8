use crate::Packet;

/// A packet held in an ordinary byte slice: what userland NFs and host unit
/// tests use.
#[derive(Debug)]
pub struct SlicePacket<'a> {
    data: &'a mut [u8],
}

impl<'a> SlicePacket<'a> {
    /// Wraps `data`, which holds one whole frame starting at its Ethernet header.
    pub fn new(data: &'a mut [u8]) -> Self {
        SlicePacket { data }
    }

    /// The frame's bytes, as the NF left them.
    pub fn as_slice(&self) -> &[u8] {
        self.data
    }
}

impl Packet for SlicePacket<'_> {
    fn len(&self) -> usize {
        self.data.len()
    }

    fn bytes<const N: usize>(&self, offset: usize) -> Option<&[u8; N]> {
        let end = offset.checked_add(N)?;
        self.data.get(offset..end)?.try_into().ok()
    }

    fn bytes_mut<const N: usize>(&mut self, offset: usize) -> Option<&mut [u8; N]> {
        let end = offset.checked_add(N)?;
        self.data.get_mut(offset..end)?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_inside_the_packet_are_returned() {
        let mut frame = [0u8, 1, 2, 3, 4, 5];
        let mut pkt = SlicePacket::new(&mut frame);
        assert_eq!(pkt.len(), 6);
        assert_eq!(pkt.bytes::<2>(4), Some(&[4, 5]));
        pkt.bytes_mut::<1>(0).unwrap()[0] = 9;
        assert_eq!(pkt.as_slice()[0], 9);
    }

    #[test]
    fn windows_past_the_end_are_refused() {
        let mut frame = [0u8; 6];
        let mut pkt = SlicePacket::new(&mut frame);
        assert_eq!(pkt.bytes::<2>(5), None);
        assert_eq!(pkt.bytes_mut::<7>(0), None);
        assert_eq!(pkt.bytes::<1>(usize::MAX), None);
    }
}

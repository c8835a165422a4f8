use crate::{AdjustError, Packet};

/// A packet held in an ordinary byte buffer: what userland NFs and host unit
/// tests use. The frame may sit inside a larger buffer, with room before it
/// (headroom) and after it (tailroom) to grow into.
#[derive(Debug)]
pub struct SlicePacket<'a> {
    buffer: &'a mut [u8],
    start: usize,
    end: usize,
}

impl<'a> SlicePacket<'a> {
    /// Wraps `data`, which holds one whole frame starting at its Ethernet
    /// header, with no room to grow.
    pub fn new(data: &'a mut [u8]) -> Self {
        let end = data.len();
        SlicePacket { buffer: data, start: 0, end }
    }

    /// A frame of `len` bytes starting `headroom` bytes into `buffer`; the
    /// rest of the buffer is room to grow. `None` if it does not fit.
    pub fn with_room(buffer: &'a mut [u8], headroom: usize, len: usize) -> Option<Self> {
        let end = headroom.checked_add(len).filter(|&end| end <= buffer.len())?;
        Some(SlicePacket { buffer, start: headroom, end })
    }

    /// The frame's bytes, as the NF left them.
    pub fn as_slice(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    /// Where the frame starts in the buffer (it moves with `adjust_head`).
    pub fn offset_in_buffer(&self) -> usize {
        self.start
    }
}

impl Packet for SlicePacket<'_> {
    fn len(&self) -> usize {
        self.end - self.start
    }

    fn bytes<const N: usize>(&self, offset: usize) -> Option<&[u8; N]> {
        let start = self.start.checked_add(offset)?;
        let end = start.checked_add(N).filter(|&end| end <= self.end)?;
        self.buffer.get(start..end)?.try_into().ok()
    }

    fn bytes_mut<const N: usize>(&mut self, offset: usize) -> Option<&mut [u8; N]> {
        let start = self.start.checked_add(offset)?;
        let end = start.checked_add(N).filter(|&end| end <= self.end)?;
        self.buffer.get_mut(start..end)?.try_into().ok()
    }

    fn adjust_head(&mut self, delta: i32) -> Result<(), AdjustError> {
        let start = self.start.checked_add_signed(delta as isize).ok_or(AdjustError)?;
        if start > self.end {
            return Err(AdjustError);
        }
        self.start = start;
        Ok(())
    }

    fn adjust_tail(&mut self, delta: i32) -> Result<(), AdjustError> {
        let end = self.end.checked_add_signed(delta as isize).ok_or(AdjustError)?;
        if end < self.start || end > self.buffer.len() {
            return Err(AdjustError);
        }
        self.end = end;
        Ok(())
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

    #[test]
    fn the_head_grows_into_headroom_and_no_further() {
        let mut buffer = [0u8, 0, 0, 0, 7, 8];
        let mut pkt = SlicePacket::with_room(&mut buffer, 4, 2).unwrap();
        assert_eq!(pkt.as_slice(), [7, 8]);
        pkt.adjust_head(-4).unwrap();
        assert_eq!(pkt.len(), 6);
        assert_eq!(pkt.adjust_head(-1), Err(AdjustError));
        pkt.adjust_head(5).unwrap();
        assert_eq!(pkt.as_slice(), [8]);
        assert_eq!(pkt.adjust_head(2), Err(AdjustError));
    }

    #[test]
    fn the_tail_grows_into_tailroom_and_shrinks() {
        let mut buffer = [1u8, 2, 3, 0];
        let mut pkt = SlicePacket::with_room(&mut buffer, 0, 3).unwrap();
        pkt.adjust_tail(1).unwrap();
        assert_eq!(pkt.len(), 4);
        assert_eq!(pkt.adjust_tail(1), Err(AdjustError));
        pkt.adjust_tail(-4).unwrap();
        assert!(pkt.is_empty());
        assert_eq!(pkt.adjust_tail(-1), Err(AdjustError));
        assert!(SlicePacket::with_room(&mut [0u8; 2], 1, 2).is_none());
    }
}

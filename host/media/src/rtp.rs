//! RTP (RFC 3550) header fields, read in place without copying.

/// A borrowed view of an RTP packet.
#[derive(Debug, Clone, Copy)]
pub struct RtpView<'a> {
    buf: &'a [u8],
    header_len: usize,
}

impl<'a> RtpView<'a> {
    /// Parses the fixed header, CSRCs and extension; `None` if it is not RTP version 2 or is
    /// truncated.
    pub fn parse(buf: &'a [u8]) -> Option<RtpView<'a>> {
        if buf.len() < 12 || buf[0] >> 6 != 2 {
            return None;
        }
        let cc = (buf[0] & 0x0f) as usize;
        let mut len = 12 + cc * 4;
        if buf[0] & 0x10 != 0 {
            if buf.len() < len + 4 {
                return None;
            }
            let words = u16::from_be_bytes([buf[len + 2], buf[len + 3]]) as usize;
            len += 4 + words * 4;
        }
        if buf.len() < len {
            return None;
        }
        let mut payload_end = buf.len();
        if buf[0] & 0x20 != 0 {
            let pad = *buf.last()? as usize;
            if pad == 0 || pad > buf.len() - len {
                return None;
            }
            payload_end -= pad;
        }
        Some(RtpView { buf: &buf[..payload_end], header_len: len })
    }

    /// Payload type.
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }
    /// Marker bit.
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }
    /// Sequence number.
    pub fn seq(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }
    /// Timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }
    /// Synchronisation source.
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }
    /// Payload octets.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..]
    }
}

/// True when a datagram on an RTP port looks like RTCP (RFC 5761 §4: PT 64..95 after masking).
pub fn looks_like_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 8 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// Writes a 12-byte RTP header into the start of `out` (which must hold 12 bytes).
pub fn write_header(out: &mut [u8], pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) {
    if out.len() < 12 {
        return;
    }
    out[0] = 0x80;
    out[1] = (pt & 0x7f) | if marker { 0x80 } else { 0 };
    out[2..4].copy_from_slice(&seq.to_be_bytes());
    out[4..8].copy_from_slice(&ts.to_be_bytes());
    out[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        let mut h = [0u8; 12];
        write_header(&mut h, 8, true, 513, 160, 0xdeadbeef);
        let mut pkt = h.to_vec();
        pkt.extend_from_slice(&[1, 2, 3]);
        let v = RtpView::parse(&pkt).unwrap();
        assert_eq!((v.payload_type(), v.marker(), v.seq(), v.timestamp(), v.ssrc()), (8, true, 513, 160, 0xdeadbeef));
        assert_eq!(v.payload(), &[1, 2, 3]);
        assert!(RtpView::parse(&pkt[..11]).is_none());
        let mut bad = pkt.clone();
        bad[0] = 0x40;
        assert!(RtpView::parse(&bad).is_none());
        // Extension header longer than the packet.
        let mut ext = pkt.clone();
        ext[0] |= 0x10;
        assert!(RtpView::parse(&ext).is_none());
    }
}

//! `std.dpi`: deep packet inspection. Matches the payload of each TCP or UDP
//! packet against a set of attack signatures at once (Aho-Corasick, from the
//! `aho-corasick` crate) and sends the packet to `attack` if any signature
//! occurs in it, to `clean` otherwise.
//!
//! # Ports
//!
//! - `clean`: no signature in the payload; also every frame with nothing to
//!   inspect: not IPv4 or IPv6, ICMP and other protocols, a TCP or UDP
//!   header cut short, an empty payload.
//! - `attack`: a signature occurs in the payload.
//!
//! # What is inspected
//!
//! The payload after the Ethernet (VLAN tags included), IP and TCP or UDP
//! headers, up to the end the IP header gives (IPv4 total length, IPv6
//! payload length; the frame's end when that field is 0, or larger than the
//! frame), so Ethernet padding and trailing bytes no host would read are left
//! out. A later fragment of an IPv4 datagram has no transport header: its
//! data after the IP header is inspected. Matching is ASCII
//! case-insensitive (`<SCRIPT>` matches `<script>`) and per packet: there is
//! no TCP reassembly, so a signature split across two segments is missed.
//!
//! # Signatures
//!
//! [`DEFAULT_SIGNATURES`] always (`/etc/passwd`, `<script>`, `' OR '1'='1`,
//! `cmd.exe`, ...), and, if the environment variable
//! `GALETTE_DPI_SIGNATURES` names a file, one more per line of it: leading
//! and trailing whitespace is trimmed, blank lines and lines starting with
//! `#` are ignored, and the rest are matched as bytes (they need not be
//! UTF-8). The set is built once, on the first packet, and kept for the life
//! of the process: to change it, restart `galette run`. A file that cannot be
//! read is reported once on standard error, and the defaults are used alone.
//!
//! # Maps and configuration
//!
//! None: each packet is judged alone. (The design's security chain has
//! `dpi` share the classifier's flow map; this version does not bind it, so
//! any chain can use it.) The only configuration is the signature file.
//!
//! # Where it runs and what it costs
//!
//! Userland only: the crate uses std (and `aho-corasick`), so `galettec`
//! places it in userland, reached by an upcall (`!dpi`) or after another
//! userland NF. Per packet: a copy of the payload into a per-thread buffer,
//! and one pass of the automaton over it, linear in the payload's length
//! whatever the number of signatures. Building the automaton costs the first
//! packet a little more (microseconds for the defaults).

use std::cell::RefCell;
use std::ffi::OsStr;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use nf_std::Packet;
use nf_std::headers::{L3, L4, parse_l3_l4};

/// The environment variable naming a file of extra signatures.
pub const SIGNATURES_ENV: &str = "GALETTE_DPI_SIGNATURES";

/// The signatures always matched.
pub const DEFAULT_SIGNATURES: &[&str] = &[
    // Path traversal to system files.
    "/etc/passwd",
    "/etc/shadow",
    // Cross-site scripting.
    "<script>",
    // SQL injection.
    "' OR '1'='1",
    "UNION SELECT",
    // Windows command execution.
    "cmd.exe",
];

/// The ports of `dpi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// No signature in the payload, or nothing to inspect.
    Clean,
    /// A signature occurs in the payload.
    Attack,
}

/// A set of signatures, ready to match.
#[derive(Clone, Debug)]
pub struct Signatures {
    automaton: AhoCorasick,
}

impl Signatures {
    /// A set matching any of `patterns`, ASCII case-insensitively. Fails only
    /// if the set is too large for the automaton.
    pub fn new<I, P>(patterns: I) -> Result<Signatures, aho_corasick::BuildError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        let automaton = AhoCorasick::builder().ascii_case_insensitive(true).build(patterns)?;
        Ok(Signatures { automaton })
    }

    /// The number of signatures.
    pub fn len(&self) -> usize {
        self.automaton.patterns_len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any signature occurs in `payload`.
    pub fn matches(&self, payload: &[u8]) -> bool {
        self.automaton.is_match(payload)
    }

    /// The defaults, plus the signatures of the file `path` names, if any.
    /// When the file cannot be read (or the set cannot be built), the
    /// defaults alone, and a message saying why.
    pub fn load(path: Option<&OsStr>) -> (Signatures, Option<String>) {
        let defaults = || Signatures::new(DEFAULT_SIGNATURES).expect("the default signatures build");
        let Some(path) = path.filter(|path| !path.is_empty()) else { return (defaults(), None) };
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(error) => {
                let why =
                    format!("dpi: cannot read the signatures in {}: {error}; using the defaults only", path.display());
                return (defaults(), Some(why));
            }
        };
        let extra = parse_signatures(&text);
        let all = DEFAULT_SIGNATURES.iter().map(|s| s.as_bytes()).chain(extra);
        match Signatures::new(all) {
            Ok(signatures) => (signatures, None),
            Err(error) => {
                let why =
                    format!("dpi: cannot use the signatures in {}: {error}; using the defaults only", path.display());
                (defaults(), Some(why))
            }
        }
    }
}

/// The signatures of a file's text: one per line, trimmed; blank lines and
/// lines starting with `#` left out.
pub fn parse_signatures(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n').map(<[u8]>::trim_ascii).filter(|line| !line.is_empty() && !line.starts_with(b"#"))
}

/// The signatures in force: built on first use from the defaults and
/// `GALETTE_DPI_SIGNATURES`.
pub fn signatures() -> &'static Signatures {
    static SIGNATURES: OnceLock<Signatures> = OnceLock::new();
    SIGNATURES.get_or_init(|| {
        let path = std::env::var_os(SIGNATURES_ENV);
        let (signatures, warning) = Signatures::load(path.as_deref());
        if let Some(warning) = warning {
            eprintln!("{warning}");
        }
        signatures
    })
}

/// Inspects one packet against the signatures in force.
pub fn packet<P: Packet>(pkt: &mut P) -> Action {
    inspect(pkt, signatures())
}

/// Inspects one packet against `signatures`.
pub fn inspect<P: Packet>(pkt: &P, signatures: &Signatures) -> Action {
    let Some((start, end)) = payload_range(pkt) else { return Action::Clean };
    thread_local! {
        /// The payload being inspected: reused, so a packet costs no allocation.
        static PAYLOAD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let found = PAYLOAD.with_borrow_mut(|payload| {
        copy_range(pkt, start, end, payload);
        signatures.matches(payload)
    });
    if found { Action::Attack } else { Action::Clean }
}

/// Where the payload is: from after the TCP or UDP header (after the IP
/// header for an IPv4 later fragment) to the end of the IP datagram.
fn payload_range<P: Packet>(pkt: &P) -> Option<(usize, usize)> {
    let layers = parse_l3_l4(pkt)?;
    let start = match layers.l4 {
        L4::Tcp(tcp) => tcp.payload_offset(),
        L4::Udp(udp) => udp.payload_offset(),
        L4::Fragment { .. } => layers.l3.payload_offset(),
        L4::Icmp(_) | L4::Other { .. } | L4::Malformed { .. } => return None,
    };
    let declared = match layers.l3 {
        L3::Ipv4(ip) => usize::from(ip.total_len(pkt)?).checked_add(ip.offset()),
        L3::Ipv6(ip) => usize::from(ip.payload_len(pkt)?).checked_add(ip.payload_offset()),
    };
    // 0 (segmentation offload, jumbograms) or past the frame: the frame's end.
    let end = match declared {
        Some(end) if end > layers.l3.payload_offset() && end <= pkt.len() => end,
        _ => pkt.len(),
    };
    (start < end).then_some((start, end))
}

/// Copies the packet's bytes `start..end` into `out`, through the packet's
/// fixed-size windows (64 bytes at a time, then byte by byte).
fn copy_range<P: Packet>(pkt: &P, start: usize, end: usize, out: &mut Vec<u8>) {
    const CHUNK: usize = 64;
    out.clear();
    out.reserve(end.saturating_sub(start));
    let mut at = start;
    while at + CHUNK <= end {
        let Some(chunk) = pkt.bytes::<CHUNK>(at) else { return };
        out.extend_from_slice(chunk);
        at += CHUNK;
    }
    while at < end {
        let Some(&[byte]) = pkt.bytes::<1>(at) else { return };
        out.push(byte);
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nf_std::SlicePacket;
    use nf_std::headers::{TcpFlags, ethertype};
    use nf_std::testing::PacketBuilder;

    const A: [u8; 4] = [198, 18, 0, 1];
    const B: [u8; 4] = [198, 18, 0, 2];

    fn defaults() -> Signatures {
        Signatures::new(DEFAULT_SIGNATURES).unwrap()
    }

    fn http(payload: &[u8]) -> PacketBuilder {
        PacketBuilder::new().ipv4(A, B).tcp(40000, 80).tcp_flags(TcpFlags::ACK | TcpFlags::PSH).payload(payload)
    }

    fn verdict(builder: &PacketBuilder, signatures: &Signatures) -> Action {
        builder.run(|pkt| inspect(pkt, signatures)).0
    }

    #[test]
    fn every_default_signature_is_an_attack() {
        let signatures = defaults();
        assert_eq!(signatures.len(), DEFAULT_SIGNATURES.len());
        for signature in DEFAULT_SIGNATURES {
            let payload = format!("GET /index.php?q={signature} HTTP/1.1\r\nHost: example\r\n\r\n");
            assert_eq!(verdict(&http(payload.as_bytes()), &signatures), Action::Attack, "{signature}");
        }
    }

    #[test]
    fn ordinary_traffic_is_clean() {
        let signatures = defaults();
        let payloads: [&[u8]; 4] = [
            b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body>script passwd OR 1=1</body></html>",
            b"",
            &[0xff; 1400],
        ];
        for payload in payloads {
            assert_eq!(verdict(&http(payload), &signatures), Action::Clean);
        }
        // A bare SYN has no payload at all.
        let syn = PacketBuilder::new().ipv4(A, B).tcp(40000, 80).tcp_flags(TcpFlags::SYN);
        assert_eq!(verdict(&syn, &signatures), Action::Clean);
    }

    #[test]
    fn matching_ignores_ascii_case() {
        let signatures = defaults();
        for payload in ["<SCRIPT>alert(1)</SCRIPT>", "x' or '1'='1", "C:\\Windows\\System32\\CMD.EXE", "union select"] {
            assert_eq!(verdict(&http(payload.as_bytes()), &signatures), Action::Attack, "{payload}");
        }
    }

    #[test]
    fn udp_ipv6_and_vlan_payloads_are_inspected() {
        let signatures = defaults();
        let udp = PacketBuilder::new().ipv4(A, B).udp(5353, 514).payload(b"run cmd.exe /c dir");
        let v6 = PacketBuilder::new().ipv6([0xfd; 16], [0xfe; 16]).tcp(1234, 80).payload(b"../../etc/passwd");
        let v6_udp = PacketBuilder::new().ipv6([0xfd; 16], [0xfe; 16]).udp(1234, 53).payload(b"<script>");
        let tagged = http(b"GET /?id=1 UNION SELECT password").qinq(100, 200);
        let options = http(b"<script>").ipv4_options(&[0x94, 0x04, 0, 0]).tcp_options(&[2, 4, 5, 0xb4]);
        for builder in [udp, v6, v6_udp, tagged, options] {
            assert_eq!(verdict(&builder, &signatures), Action::Attack);
        }
    }

    #[test]
    fn a_signature_anywhere_in_the_payload_is_found() {
        // Every length around the 64-byte windows, the signature at every
        // position: the copy loses no byte and adds none.
        let signatures = Signatures::new(["cmd.exe"]).unwrap();
        for len in [7usize, 63, 64, 65, 127, 128, 129, 200] {
            for at in 0..=len - 7 {
                let mut payload = vec![b'.'; len];
                payload[at..at + 7].copy_from_slice(b"cmd.exe");
                assert_eq!(verdict(&http(&payload), &signatures), Action::Attack, "len {len}, at {at}");
            }
            assert_eq!(verdict(&http(&vec![b'.'; len]), &signatures), Action::Clean, "len {len}");
        }
    }

    #[test]
    fn headers_padding_and_trailing_bytes_are_not_inspected() {
        // A signature that is the bytes of the TCP ports and sequence number.
        let header_bytes = [0x9c, 0x40, 0x00, 0x50];
        let signatures = Signatures::new([&header_bytes[..], b"cmd.exe", &[0u8; 4]]).unwrap();
        assert_eq!(verdict(&http(b"hello"), &signatures), Action::Clean, "in the TCP header only");
        // Ethernet padding (zeros) after a short datagram.
        assert_eq!(verdict(&http(b"hi").pad_to(60), &signatures), Action::Clean, "in the padding only");
        // Bytes after the end the IP header gives: no host reads them.
        let mut frame = http(b"hello").build();
        frame.extend_from_slice(b"cmd.exe");
        assert_eq!(inspect(&SlicePacket::new(&mut frame), &signatures), Action::Clean);
    }

    #[test]
    fn an_unusable_ip_length_means_the_frame_s_end() {
        let signatures = defaults();
        for total_len in [0u16, 20, 0xffff] {
            let mut frame = http(b"cmd.exe").build();
            frame[16..18].copy_from_slice(&total_len.to_be_bytes());
            assert_eq!(inspect(&SlicePacket::new(&mut frame), &signatures), Action::Attack, "total length {total_len}");
        }
        let mut v6 = PacketBuilder::new().ipv6([0xfd; 16], [0xfe; 16]).udp(1, 2).payload(b"cmd.exe").build();
        v6[18..20].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(inspect(&SlicePacket::new(&mut v6), &signatures), Action::Attack);
    }

    #[test]
    fn later_fragments_are_inspected_after_the_ip_header() {
        let signatures = defaults();
        let fragment = PacketBuilder::new().ipv4(A, B).ip_protocol(6).fragment(1480, false).payload(b"...cmd.exe...");
        assert_eq!(verdict(&fragment, &signatures), Action::Attack);
        let clean = PacketBuilder::new().ipv4(A, B).ip_protocol(6).fragment(1480, true).payload(b"just data");
        assert_eq!(verdict(&clean, &signatures), Action::Clean);
    }

    #[test]
    fn frames_with_nothing_to_inspect_are_clean() {
        let signatures = defaults();
        let arp = PacketBuilder::new().ethertype(ethertype::ARP).payload(b"cmd.exe cmd.exe cmd.exe cmd.exe");
        let raw = PacketBuilder::new().payload(b"<script>");
        let ping = PacketBuilder::new().ipv4(A, B).icmp_echo(8, 1, 1).payload(b"cmd.exe");
        let gre = PacketBuilder::new().ipv4(A, B).ip_protocol(47).payload(b"cmd.exe");
        for builder in [arp, raw, ping, gre] {
            assert_eq!(verdict(&builder, &signatures), Action::Clean);
        }
        // A TCP header cut short, and a runt frame.
        let mut cut = http(b"cmd.exe").build();
        cut.truncate(14 + 20 + 10);
        let mut runt = *b"cmd.exe";
        for frame in [&mut cut[..], &mut runt[..]] {
            assert_eq!(inspect(&SlicePacket::new(frame), &signatures), Action::Clean);
        }
    }

    #[test]
    fn signature_files_have_one_per_line_and_comments() {
        let text =
            b"# attack strings\n\n  wget http://  \r\nDROP TABLE\r\n   # indented comment\n\xff\xfe binary\n\t\n";
        let lines: Vec<&[u8]> = parse_signatures(text).collect();
        assert_eq!(lines, [&b"wget http://"[..], b"DROP TABLE", b"\xff\xfe binary"]);
        assert_eq!(parse_signatures(b"").count(), 0);
    }

    #[test]
    fn a_signature_file_adds_to_the_defaults() {
        let dir = std::env::temp_dir().join(format!("galette-dpi-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("signatures.txt");
        std::fs::write(&file, b"# extra\nDROP TABLE\n\nx-evil-header\n").unwrap();
        let (signatures, warning) = Signatures::load(Some(file.as_os_str()));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(warning, None);
        assert_eq!(signatures.len(), DEFAULT_SIGNATURES.len() + 2);
        assert_eq!(verdict(&http(b"1; drop table users"), &signatures), Action::Attack);
        assert_eq!(verdict(&http(b"X-Evil-Header: 1"), &signatures), Action::Attack);
        assert_eq!(verdict(&http(b"cmd.exe"), &signatures), Action::Attack, "the defaults stay");
        assert_eq!(verdict(&http(b"# extra"), &signatures), Action::Clean, "comments are not signatures");
    }

    #[test]
    fn without_a_readable_file_the_defaults_are_used() {
        let (signatures, warning) = Signatures::load(None);
        assert_eq!((signatures.len(), warning), (DEFAULT_SIGNATURES.len(), None));
        let (signatures, warning) = Signatures::load(Some(OsStr::new("")));
        assert_eq!((signatures.len(), warning), (DEFAULT_SIGNATURES.len(), None));
        let (signatures, warning) = Signatures::load(Some(OsStr::new("/nonexistent/galette/signatures.txt")));
        assert_eq!(signatures.len(), DEFAULT_SIGNATURES.len());
        let warning = warning.expect("a missing file is reported");
        assert!(warning.contains("/nonexistent/galette/signatures.txt"), "{warning}");
    }

    #[test]
    fn the_entry_point_uses_the_signatures_in_force() {
        // The defaults are always in force, whatever the environment adds.
        let (attack, frame) = http(b"GET /../../etc/passwd").run(|pkt| packet(pkt));
        assert_eq!(attack, Action::Attack);
        assert_eq!(frame, http(b"GET /../../etc/passwd").build(), "the frame is not modified");
        assert!(signatures().len() >= DEFAULT_SIGNATURES.len());
        assert!(std::ptr::eq(signatures(), signatures()), "built once");
        assert_eq!(http(b"GET / HTTP/1.1").run(|pkt| packet(pkt)).0, Action::Clean);
    }
}

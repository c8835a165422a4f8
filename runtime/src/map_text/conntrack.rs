//! The connections of `std.conntrack_out` and `std.conntrack_in` as text:
//! a [`ConnKey`] as `tcp:198.18.0.2:40000->198.19.0.2:80` (the inside host
//! first; IPv6 addresses in brackets; `icmp:198.18.0.2#7->198.19.0.2` for an
//! echo with identifier 7), a [`ConnEntry`] as
//! `established,age=12.5s,idle=0.3s,out=12,in=10` (and `fins=out`, `in` or
//! `both` once a side has sent a FIN). Each is one word, so a dump's lines
//! stay `KEY VALUE`; both read back (an entry's age and idle time are then
//! counted back from now).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nf_std::conntrack::{ConnEntry, ConnKey, ConnState, FIN_IN, FIN_OUT};

use super::TextError;

/// The size of a key and of an entry, as the NFs store them.
pub const KEY_SIZE: usize = size_of::<ConnKey>();
pub const ENTRY_SIZE: usize = size_of::<ConnEntry>();

pub fn format_key(bytes: &[u8]) -> String {
    let key = read_key(bytes);
    let (inside, outside) = addresses(&key);
    let protocol = protocol_name(key.protocol);
    if is_icmp(key.protocol) {
        format!("{protocol}:{}#{}->{}", host(inside), key.inside_port, host(outside))
    } else {
        format!("{protocol}:{}:{}->{}:{}", host(inside), key.inside_port, host(outside), key.outside_port)
    }
}

pub fn parse_key(text: &str) -> Result<Vec<u8>, TextError> {
    let bad = || TextError::NotAConnection { text: text.to_owned() };
    let (protocol, rest) = text.split_once(':').ok_or_else(bad)?;
    let protocol = protocol_number(protocol).ok_or_else(bad)?;
    let (inside, outside) = rest.split_once("->").ok_or_else(bad)?;
    let mut key = ConnKey { protocol, ..ConnKey::default() };
    let (inside, outside, inside_port, outside_port) = if is_icmp(protocol) {
        let (inside, id) = inside.rsplit_once('#').ok_or_else(bad)?;
        (inside, outside, id.parse().map_err(|_| bad())?, 0)
    } else {
        let (inside, inside_port) = inside.rsplit_once(':').ok_or_else(bad)?;
        let (outside, outside_port) = outside.rsplit_once(':').ok_or_else(bad)?;
        (inside, outside, inside_port.parse().map_err(|_| bad())?, outside_port.parse().map_err(|_| bad())?)
    };
    let (inside, outside) = (parse_host(inside).ok_or_else(bad)?, parse_host(outside).ok_or_else(bad)?);
    key.ip_version = match (inside, outside) {
        (IpAddr::V4(inside), IpAddr::V4(outside)) => {
            key.inside_addr[..4].copy_from_slice(&inside.octets());
            key.outside_addr[..4].copy_from_slice(&outside.octets());
            4
        }
        (IpAddr::V6(inside), IpAddr::V6(outside)) => {
            key.inside_addr = inside.octets();
            key.outside_addr = outside.octets();
            6
        }
        _ => return Err(bad()),
    };
    (key.inside_port, key.outside_port) = (inside_port, outside_port);
    Ok(key_bytes(&key))
}

/// An entry as text, its times counted from `now` (the NFs' clock).
pub fn format_entry(bytes: &[u8], now: u64) -> String {
    let entry = read_entry(bytes);
    let state = entry.conn_state().map_or("none", ConnState::name);
    let seconds = |ns: u64| format!("{:.1}s", now.saturating_sub(ns) as f64 / 1e9);
    let mut text = format!(
        "{state},age={},idle={},out={},in={}",
        seconds(entry.created_ns),
        seconds(entry.last_seen_ns),
        entry.packets_out,
        entry.packets_in
    );
    match entry.fins {
        0 => {}
        FIN_OUT => text.push_str(",fins=out"),
        FIN_IN => text.push_str(",fins=in"),
        _ => text.push_str(",fins=both"),
    }
    text
}

/// The entry `text` describes, its times counted back from `now`.
pub fn parse_entry(text: &str, now: u64) -> Result<Vec<u8>, TextError> {
    let bad = || TextError::NotAConnectionEntry { text: text.to_owned() };
    let mut fields = text.split(',');
    let state = fields.next().and_then(|name| ConnState::ALL.into_iter().find(|s| s.name() == name)).ok_or_else(bad)?;
    let mut entry = ConnEntry::new(state, now);
    let ago = |value: &str| -> Option<u64> {
        let seconds: f64 = value.strip_suffix('s')?.parse().ok()?;
        (seconds >= 0.0).then(|| now.saturating_sub((seconds * 1e9) as u64))
    };
    for field in fields {
        let (name, value) = field.split_once('=').ok_or_else(bad)?;
        match name {
            "age" => entry.created_ns = ago(value).ok_or_else(bad)?,
            "idle" => entry.last_seen_ns = ago(value).ok_or_else(bad)?,
            "out" => entry.packets_out = value.parse().map_err(|_| bad())?,
            "in" => entry.packets_in = value.parse().map_err(|_| bad())?,
            "fins" => {
                entry.fins = match value {
                    "out" => FIN_OUT,
                    "in" => FIN_IN,
                    "both" => FIN_OUT | FIN_IN,
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(entry_bytes(&entry))
}

/// Now on the clock the NFs stamp entries with (CLOCK_MONOTONIC).
pub fn now_ns() -> u64 {
    nf_std::now_ns()
}

fn read_key(bytes: &[u8]) -> ConnKey {
    assert_eq!(bytes.len(), KEY_SIZE, "checked by the caller");
    // SAFETY: `bytes` holds exactly a `ConnKey`, which is plain data (any
    // bytes are a valid value); read unaligned, as a byte buffer may be.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<ConnKey>()) }
}

fn read_entry(bytes: &[u8]) -> ConnEntry {
    assert_eq!(bytes.len(), ENTRY_SIZE, "checked by the caller");
    // SAFETY: as in `read_key`, for a `ConnEntry`.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<ConnEntry>()) }
}

fn key_bytes(key: &ConnKey) -> Vec<u8> {
    // SAFETY: a `ConnKey` is plain data without padding: its bytes are all
    // initialised.
    unsafe { std::slice::from_raw_parts((key as *const ConnKey).cast::<u8>(), KEY_SIZE) }.to_vec()
}

fn entry_bytes(entry: &ConnEntry) -> Vec<u8> {
    // SAFETY: as in `key_bytes`, for a `ConnEntry`.
    unsafe { std::slice::from_raw_parts((entry as *const ConnEntry).cast::<u8>(), ENTRY_SIZE) }.to_vec()
}

fn addresses(key: &ConnKey) -> (IpAddr, IpAddr) {
    let v4 = |bytes: &[u8; 16]| IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]));
    match key.ip_version {
        4 => (v4(&key.inside_addr), v4(&key.outside_addr)),
        _ => (IpAddr::V6(Ipv6Addr::from(key.inside_addr)), IpAddr::V6(Ipv6Addr::from(key.outside_addr))),
    }
}

/// An address as it goes before `:PORT`: IPv6 in brackets.
fn host(address: IpAddr) -> String {
    match address {
        IpAddr::V4(address) => address.to_string(),
        IpAddr::V6(address) => format!("[{address}]"),
    }
}

fn parse_host(text: &str) -> Option<IpAddr> {
    match text.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => text.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

fn is_icmp(protocol: u8) -> bool {
    protocol == ICMP || protocol == ICMPV6
}

fn protocol_name(protocol: u8) -> String {
    match protocol {
        TCP => "tcp".to_owned(),
        UDP => "udp".to_owned(),
        ICMP => "icmp".to_owned(),
        ICMPV6 => "icmpv6".to_owned(),
        other => format!("proto{other}"),
    }
}

fn protocol_number(name: &str) -> Option<u8> {
    match name {
        "tcp" => Some(TCP),
        "udp" => Some(UDP),
        "icmp" => Some(ICMP),
        "icmpv6" => Some(ICMPV6),
        other => other.strip_prefix("proto")?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn keys_read_from_the_inside_and_back() {
        for text in [
            "tcp:198.18.0.2:40000->198.19.0.2:80",
            "udp:198.18.0.2:5353->198.19.0.53:53",
            "icmp:198.18.0.2#7->198.19.0.2",
            "tcp:[fd00::2]:40000->[2001:db8::1]:443",
            "icmpv6:[fd00::2]#9->[2001:db8::1]",
        ] {
            let bytes = parse_key(text).unwrap();
            assert_eq!(bytes.len(), KEY_SIZE);
            assert_eq!(format_key(&bytes), text);
        }
        let key = read_key(&parse_key("tcp:198.18.0.2:40000->198.19.0.2:80").unwrap());
        assert_eq!((key.inside_port, key.outside_port, key.protocol, key.ip_version), (40000, 80, 6, 4));
        assert_eq!(&key.inside_addr[..4], &[198, 18, 0, 2]);
        for bad in ["tcp:198.18.0.2->198.19.0.2:80", "sctp:1.2.3.4:1->1.2.3.5:2", "tcp:1.2.3.4:1->[::1]:2", "x"] {
            assert!(matches!(parse_key(bad), Err(TextError::NotAConnection { .. })), "{bad}");
        }
    }

    #[test]
    fn entries_say_state_age_idle_time_and_packets() {
        let now = 1_000 * S;
        let entry = ConnEntry {
            created_ns: now - 12 * S - S / 2,
            last_seen_ns: now - 3 * S / 10,
            packets_out: 12,
            packets_in: 10,
            state: ConnState::TcpClosing.code(),
            fins: FIN_OUT,
            ..ConnEntry::default()
        };
        let text = format_entry(&entry_bytes(&entry), now);
        assert_eq!(text, "closing,age=12.5s,idle=0.3s,out=12,in=10,fins=out");
        let back = read_entry(&parse_entry(&text, now).unwrap());
        assert_eq!((back.state, back.fins, back.packets_out, back.packets_in), (entry.state, FIN_OUT, 12, 10));
        assert_eq!(back.created_ns, entry.created_ns);
        assert!(parse_entry("open,age=1s", now).is_err());
        assert!(parse_entry("established,age=-1s", now).is_err());
        assert!(parse_entry("established,colour=red", now).is_err());
    }
}

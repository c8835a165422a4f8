//! Per-instance counters as the runtime shows them: one line for people,
//! one JSON object for programs (`--json`), the Prometheus text format for
//! scrapers.

use serde::{Deserialize, Serialize};

/// The counters of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceCounters {
    pub name: String,
    /// Packets that reached the instance.
    pub received: u64,
    /// Packets that left by each port, in port order.
    pub ports: Vec<PortCounter>,
    /// Packets dropped because the NF failed: a panic in userland, a failed
    /// tail call out of it in XDP.
    pub aborted: u64,
}

/// Packets the chain's fast path dropped for one [`galette_bundle::DropReason`]
/// (it could not deliver them where a port led).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounter {
    pub reason: String,
    pub packets: u64,
}

/// One reading of a chain's counters: every instance's, and the chain's own
/// drops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    pub instances: Vec<InstanceCounters>,
    pub drops: Vec<DropCounter>,
}

impl Reading {
    /// The packets dropped for the reason called `reason`.
    pub fn dropped(&self, reason: &str) -> u64 {
        self.drops.iter().filter(|drop| drop.reason == reason).map(|drop| drop.packets).sum()
    }
}

/// Packets that left an instance by one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCounter {
    pub name: String,
    pub packets: u64,
}

impl InstanceCounters {
    /// The packets that left by the port called `name`, if it has one.
    pub fn port(&self, name: &str) -> Option<u64> {
        self.ports.iter().find(|port| port.name == name).map(|port| port.packets)
    }
}

/// One reading of every instance's counters, as `galette stats --json` and
/// `galette run --stats-json` print it: one JSON object per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersReport {
    pub chain: String,
    /// Whether this is the last reading of `galette run`, taken after the
    /// chain was detached.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub instances: Vec<InstanceCounters>,
    /// The chain's own drops, by reason (absent from older readings).
    #[serde(default)]
    pub drops: Vec<DropCounter>,
}

impl CountersReport {
    /// The counters of the instance called `name`, if the chain has one.
    pub fn instance(&self, name: &str) -> Option<&InstanceCounters> {
        self.instances.iter().find(|instance| instance.name == name)
    }

    /// The report as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("counters always serialize")
    }
}

/// The chain's drops by reason, read from the layout of
/// `galette_bundle::drop_index` with `read` (the sum over CPUs of a slot).
pub fn read_drops<E>(
    manifest: &galette_bundle::Manifest,
    mut read: impl FnMut(u32) -> Result<u64, E>,
) -> Result<Vec<DropCounter>, E> {
    use galette_bundle::{DropReason, drop_index};
    let max_ports = manifest.xdp.as_ref().map_or(0, |xdp| xdp.max_ports);
    let instances = manifest.instances.len() as u32;
    DropReason::ALL
        .iter()
        .map(|&reason| {
            Ok(DropCounter {
                reason: reason.name().to_owned(),
                packets: read(drop_index(reason, instances, max_ports))?,
            })
        })
        .collect()
}

/// The counters of every instance of `manifest`, read from the layout of
/// `galette_bundle::stats_index` with `read` (the sum over CPUs of a slot).
pub fn read_counters<E>(
    manifest: &galette_bundle::Manifest,
    mut read: impl FnMut(u32) -> Result<u64, E>,
) -> Result<Vec<InstanceCounters>, E> {
    use galette_bundle::{StatsSlot, stats_index};
    let max_ports = manifest.xdp.as_ref().map_or(0, |xdp| xdp.max_ports);
    manifest
        .instances
        .iter()
        .enumerate()
        .map(|(instance, description)| {
            let instance = instance as u32;
            let mut ports = Vec::with_capacity(description.ports.len());
            for (port, p) in description.ports.iter().enumerate() {
                let packets = read(stats_index(instance, StatsSlot::Port(port as u32), max_ports))?;
                ports.push(PortCounter { name: p.name.clone(), packets });
            }
            // An XDP instance does not count what it received: every packet
            // leaves it by one port (see `StatsSlot::Received`).
            let received = match description.placement {
                galette_bundle::Placement::Xdp => ports.iter().map(|port| port.packets).sum(),
                galette_bundle::Placement::Userland => read(stats_index(instance, StatsSlot::Received, max_ports))?,
            };
            let aborted = read(stats_index(instance, StatsSlot::MissedTailCall, max_ports))?;
            Ok(InstanceCounters { name: description.name.clone(), received, ports, aborted })
        })
        .collect()
}

/// The counters in the Prometheus text format, labelled by chain, instance
/// and port.
pub fn prometheus(chain: &str, reading: &Reading) -> String {
    let counters = &reading.instances;
    let label = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::new();
    out.push_str(
        "# HELP galette_packets_total Packets that reached an NF instance.\n# TYPE galette_packets_total counter\n",
    );
    for instance in counters {
        out.push_str(&format!(
            "galette_packets_total{{chain=\"{}\",instance=\"{}\"}} {}\n",
            label(chain),
            label(&instance.name),
            instance.received
        ));
    }
    out.push_str("# HELP galette_port_packets_total Packets that left an NF instance by a port.\n# TYPE galette_port_packets_total counter\n");
    for instance in counters {
        for port in &instance.ports {
            out.push_str(&format!(
                "galette_port_packets_total{{chain=\"{}\",instance=\"{}\",port=\"{}\"}} {}\n",
                label(chain),
                label(&instance.name),
                label(&port.name),
                port.packets
            ));
        }
    }
    out.push_str("# HELP galette_aborted_packets_total Packets dropped because an NF failed (a userland panic, a failed tail call).\n# TYPE galette_aborted_packets_total counter\n");
    for instance in counters {
        out.push_str(&format!(
            "galette_aborted_packets_total{{chain=\"{}\",instance=\"{}\"}} {}\n",
            label(chain),
            label(&instance.name),
            instance.aborted
        ));
    }
    out.push_str("# HELP galette_dropped_packets_total Packets the fast path dropped because it could not deliver them where a port led.\n# TYPE galette_dropped_packets_total counter\n");
    for drop in &reading.drops {
        out.push_str(&format!(
            "galette_dropped_packets_total{{chain=\"{}\",reason=\"{}\"}} {}\n",
            label(chain),
            label(&drop.reason),
            drop.packets
        ));
    }
    out
}

/// How `galette run` and `galette stats` print a reading of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountersFormat {
    /// For people: [`format_counters`], the last reading after `final: `.
    Text,
    /// For programs: one [`CountersReport`] per line.
    Json,
}

impl CountersFormat {
    /// JSON when `json` is set, else text.
    pub fn of(json: bool) -> CountersFormat {
        if json { CountersFormat::Json } else { CountersFormat::Text }
    }

    /// One reading of `chain`'s counters as a line (no newline).
    pub fn line(self, chain: &str, reading: &Reading, is_final: bool) -> String {
        match self {
            CountersFormat::Text if is_final => format!("final: {}", format_counters(reading)),
            CountersFormat::Text => format_counters(reading),
            CountersFormat::Json => CountersReport {
                chain: chain.to_owned(),
                is_final,
                instances: reading.instances.clone(),
                drops: reading.drops.clone(),
            }
            .to_json_line(),
        }
    }
}

/// One line for all instances: `swap: 120 pkts (out 120)`, then the chain's
/// drops when it had any: `| dropped: no_workers 3`.
pub fn format_counters(reading: &Reading) -> String {
    let counters = &reading.instances;
    if counters.is_empty() {
        return "no NF instances".to_owned();
    }
    let drops: Vec<String> = reading
        .drops
        .iter()
        .filter(|drop| drop.packets > 0)
        .map(|drop| format!("{} {}", drop.reason, drop.packets))
        .collect();
    let drops = if drops.is_empty() { String::new() } else { format!(" | dropped: {}", drops.join(", ")) };
    let instances = counters
        .iter()
        .map(|instance| {
            let mut ports: Vec<String> =
                instance.ports.iter().map(|port| format!("{} {}", port.name, port.packets)).collect();
            if instance.aborted > 0 {
                ports.push(format!("aborted {}", instance.aborted));
            }
            format!("{}: {} pkts ({})", instance.name, instance.received, ports.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" | ");
    format!("{instances}{drops}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(counts: &[(&str, u64)]) -> Vec<PortCounter> {
        counts.iter().map(|(name, packets)| PortCounter { name: (*name).into(), packets: *packets }).collect()
    }

    #[test]
    fn a_report_is_one_line_of_json_that_reads_back() {
        let report = CountersReport {
            chain: "sec".into(),
            is_final: true,
            instances: vec![InstanceCounters {
                name: "acl".into(),
                received: 10,
                ports: ports(&[("allowed", 7), ("denied", 3)]),
                aborted: 0,
            }],
            drops: vec![DropCounter { reason: "no_workers".into(), packets: 2 }],
        };
        let line = report.to_json_line();
        assert_eq!(
            line,
            r#"{"chain":"sec","final":true,"instances":[{"name":"acl","received":10,"ports":[{"name":"allowed","packets":7},{"name":"denied","packets":3}],"aborted":0}],"drops":[{"reason":"no_workers","packets":2}]}"#
        );
        let back: CountersReport = serde_json::from_str(&line).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.instance("acl").and_then(|acl| acl.port("denied")), Some(3));
        assert_eq!(back.instance("acl").and_then(|acl| acl.port("nope")), None);
    }

    #[test]
    fn prometheus_text_labels_every_counter() {
        let reading = Reading {
            instances: vec![InstanceCounters {
                name: "acl".into(),
                received: 10,
                ports: ports(&[("allowed", 7)]),
                aborted: 1,
            }],
            drops: vec![DropCounter { reason: "no_socket".into(), packets: 4 }],
        };
        let text = prometheus("sec\"urity", &reading);
        assert!(text.contains("# TYPE galette_packets_total counter\n"));
        assert!(text.contains("galette_packets_total{chain=\"sec\\\"urity\",instance=\"acl\"} 10\n"), "{text}");
        assert!(
            text.contains("galette_port_packets_total{chain=\"sec\\\"urity\",instance=\"acl\",port=\"allowed\"} 7\n")
        );
        assert!(text.contains("galette_aborted_packets_total{chain=\"sec\\\"urity\",instance=\"acl\"} 1\n"));
        assert!(
            text.contains("galette_dropped_packets_total{chain=\"sec\\\"urity\",reason=\"no_socket\"} 4\n"),
            "{text}"
        );
    }

    #[test]
    fn formats_every_instance_and_port() {
        let instances = vec![
            InstanceCounters {
                name: "acl".into(),
                received: 10,
                ports: ports(&[("allowed", 7), ("denied", 3)]),
                aborted: 0,
            },
            InstanceCounters { name: "swap".into(), received: 9, ports: ports(&[("out", 7)]), aborted: 2 },
        ];
        let mut reading = Reading { instances, drops: vec![DropCounter { reason: "no_workers".into(), packets: 0 }] };
        assert_eq!(format_counters(&reading), "acl: 10 pkts (allowed 7, denied 3) | swap: 9 pkts (out 7, aborted 2)");
        reading.drops[0].packets = 3;
        assert!(format_counters(&reading).ends_with("swap: 9 pkts (out 7, aborted 2) | dropped: no_workers 3"));
    }
}

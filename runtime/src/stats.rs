//! Per-instance counters as the runtime shows them.

/// The counters of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceCounters {
    pub name: String,
    /// Packets that reached the instance.
    pub received: u64,
    /// Packets that left by each port, in port order.
    pub ports: Vec<(String, u64)>,
    /// Packets dropped because the NF failed: a panic in userland, a failed
    /// tail call out of it in XDP.
    pub aborted: u64,
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
            let received = read(stats_index(instance, StatsSlot::Received, max_ports))?;
            let mut ports = Vec::with_capacity(description.ports.len());
            for (port, p) in description.ports.iter().enumerate() {
                ports.push((p.name.clone(), read(stats_index(instance, StatsSlot::Port(port as u32), max_ports))?));
            }
            let aborted = read(stats_index(instance, StatsSlot::MissedTailCall, max_ports))?;
            Ok(InstanceCounters { name: description.name.clone(), received, ports, aborted })
        })
        .collect()
}

/// The counters in the Prometheus text format, labelled by chain, instance
/// and port.
pub fn prometheus(chain: &str, counters: &[InstanceCounters]) -> String {
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
        for (port, count) in &instance.ports {
            out.push_str(&format!(
                "galette_port_packets_total{{chain=\"{}\",instance=\"{}\",port=\"{}\"}} {count}\n",
                label(chain),
                label(&instance.name),
                label(port)
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
    out
}

/// One line for all instances: `swap: 120 pkts (out 120)`.
pub fn format_counters(counters: &[InstanceCounters]) -> String {
    if counters.is_empty() {
        return "no NF instances".to_owned();
    }
    counters
        .iter()
        .map(|instance| {
            let mut ports: Vec<String> = instance.ports.iter().map(|(port, count)| format!("{port} {count}")).collect();
            if instance.aborted > 0 {
                ports.push(format!("aborted {}", instance.aborted));
            }
            format!("{}: {} pkts ({})", instance.name, instance.received, ports.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_labels_every_counter() {
        let counters =
            [InstanceCounters { name: "acl".into(), received: 10, ports: vec![("allowed".into(), 7)], aborted: 1 }];
        let text = prometheus("sec\"urity", &counters);
        assert!(text.contains("# TYPE galette_packets_total counter\n"));
        assert!(text.contains("galette_packets_total{chain=\"sec\\\"urity\",instance=\"acl\"} 10\n"), "{text}");
        assert!(
            text.contains("galette_port_packets_total{chain=\"sec\\\"urity\",instance=\"acl\",port=\"allowed\"} 7\n")
        );
        assert!(text.contains("galette_aborted_packets_total{chain=\"sec\\\"urity\",instance=\"acl\"} 1\n"));
    }

    #[test]
    fn formats_every_instance_and_port() {
        let counters = [
            InstanceCounters {
                name: "acl".into(),
                received: 10,
                ports: vec![("allowed".into(), 7), ("denied".into(), 3)],
                aborted: 0,
            },
            InstanceCounters { name: "swap".into(), received: 9, ports: vec![("out".into(), 7)], aborted: 2 },
        ];
        assert_eq!(format_counters(&counters), "acl: 10 pkts (allowed 7, denied 3) | swap: 9 pkts (out 7, aborted 2)");
    }
}

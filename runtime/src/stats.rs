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
    fn formats_every_instance_and_port() {
        let counters = [
            InstanceCounters { name: "acl".into(), received: 10, ports: vec![("allowed".into(), 7), ("denied".into(), 3)], aborted: 0 },
            InstanceCounters { name: "swap".into(), received: 9, ports: vec![("out".into(), 7)], aborted: 2 },
        ];
        assert_eq!(format_counters(&counters), "acl: 10 pkts (allowed 7, denied 3) | swap: 9 pkts (out 7, aborted 2)");
    }
}

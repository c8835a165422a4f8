//! The report end to end: a synthetic run in, files, Markdown, ratio lines
//! and SVG out.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use galette_bench_report::*;

fn measured(offered_pps: f64, pps: f64, p50: f64) -> Measured {
    Measured {
        offered_pps,
        pps,
        mbps: pps * 60.0 * 8.0 / 1e6,
        loss: 1.0 - pps / offered_pps,
        latency: Latency { p1: p50 * 0.5, p25: p50 * 0.8, p50, p75: p50 * 1.5, p99: p50 * 4.0, samples: 1000 },
        dut_cpu: 0.75,
        generator_bound: false,
    }
}

fn forwarding(dut: Dut, frame_bytes: u32, target_pps: Option<f64>, pps: f64, p50: f64) -> ForwardingPoint {
    let offered = target_pps.unwrap_or(3.1e6);
    ForwardingPoint { dut, frame_bytes, target_pps, measured: measured(offered, pps, p50) }
}

fn expensive(placement: ExpensivePlacement, workers: u32, share: f64, pps: f64) -> ExpensivePoint {
    ExpensivePoint {
        placement,
        workers,
        share,
        operations: 100_000,
        frame_bytes: 64,
        measured: measured(50e3, pps, 20.0),
        classes: Some(ExpensiveClasses {
            normal: class(pps * (1.0 - share), 80.0),
            expensive: class(pps * share, 2500.0),
        }),
    }
}

/// One class of frames over a 1 s point, delivering `pps`, p99 `p99` µs
/// (none: a class that delivered nothing has no latency).
fn class(pps: f64, p99: f64) -> ClassMeasured {
    let frames = pps.round() as u64;
    let latency = if frames == 0 {
        Latency::default()
    } else {
        Latency { p1: p99 / 8.0, p25: p99 / 5.0, p50: p99 / 4.0, p75: p99 / 2.0, p99, samples: frames }
    };
    ClassMeasured { frames, pps, latency }
}

/// 50 reloads, 4 ms apart from start to start, each command 3 ms (the
/// switch 1 + round / 10 ms), in a phase of 100 buckets of 10 ms at 100
/// kpps (1000 frames a bucket); the generator pauses in bucket 60. While
/// the reloads run (buckets 2 to 21), half a bucket's frames come back late,
/// in the next one.
fn reload_run(tier: ReloadTier, target_pps: f64) -> ReloadRun {
    let mut sent = vec![1000u64; 100];
    sent[0] = 400;
    sent[60] = 100;
    let mut received = sent.clone();
    received[10] = 500;
    received[11] = 1500;
    let phase = |sent: &[u64], received: &[u64]| ReloadPhase {
        sent: sent.iter().sum(),
        received: received.iter().sum(),
        sending_ns: 1_000_000_000,
        sent_per_bucket: sent.to_vec(),
        received_per_bucket: received.to_vec(),
        by_ttl: vec![TtlCount { ttl: 63, frames: received.iter().sum::<u64>() - 7 }, TtlCount { ttl: 61, frames: 7 }],
    };
    let steady_sent = vec![1000u64; 100];
    let mut steady_received = steady_sent.clone();
    steady_received[99] = 990;
    ReloadRun {
        tier,
        chains: vec!["tests/reload/marks_once.gal".into(), "tests/reload/marks_twice.gal".into()],
        marks: vec![63, 62],
        frame_bytes: 64,
        target_pps,
        bucket_ns: 10_000_000,
        steady: phase(&steady_sent, &steady_received),
        reloading: phase(&sent, &received),
        reloads: (0..50u64)
            .map(|round| ReloadTiming {
                started_ns: 20_000_000 + round * 4_000_000,
                ended_ns: 23_000_000 + round * 4_000_000,
                switch_ns: 1_000_000 + round * 100_000,
            })
            .collect(),
    }
}

/// A cost point of 1,000,000 frames offered in 2 s at 500 kpps, of which
/// `received` came back; the attached program ran once a frame for `xdp_ns`
/// each and the machine spent `softirq_ns` a frame that came back.
/// `kernel_ns` per frame received, three fifths of it softirq, the rest the
/// DUT's NAPI thread.
fn dut_cost(dut: Dut, received: u64, programs: &[(&str, u64)], kernel_ns: u64) -> DutCost {
    let runs = |run_ns: u64| if run_ns == 0 { 0 } else { 1_000_000 };
    DutCost {
        dut,
        frame_bytes: 64,
        target_pps: 500e3,
        sent: 1_000_000,
        received,
        sending_ns: 2_000_000_000,
        programs: programs
            .iter()
            .enumerate()
            .map(|(id, (name, ns))| ProgramRuns {
                name: (*name).into(),
                id: id as u32 + 10,
                run_ns: ns * runs(*ns),
                runs: runs(*ns),
            })
            .collect(),
        softirq_ns: kernel_ns * received * 3 / 5,
        napi_thread_ns: kernel_ns * received * 2 / 5,
    }
}

/// A small run with a few points of every kind.
fn synthetic() -> Results {
    let afxdp = Dut::GaletteAfXdp { workers: 1, poll: false };
    let mut forwarding_points = Vec::new();
    for (frame_bytes, scale) in [(64, 1.0), (1518, 0.1)] {
        for (dut, peak) in
            [(Dut::GaletteXdp, 2.0e6), (afxdp.clone(), 0.48e6), (Dut::AyaXdp, 1.0e6), (Dut::AfPacket, 0.3e6)]
        {
            for target in [100e3, 1e6] {
                forwarding_points.push(forwarding(
                    dut.clone(),
                    frame_bytes,
                    Some(target * scale),
                    (target * scale).min(peak * scale),
                    10.0,
                ));
            }
            forwarding_points.push(forwarding(dut, frame_bytes, None, peak * scale, 40.0));
        }
    }
    // Galette XDP at 1518 B keeps up with the generator.
    if let Some(point) = forwarding_points
        .iter_mut()
        .find(|point| point.dut == Dut::GaletteXdp && point.frame_bytes == 1518 && point.target_pps.is_none())
    {
        point.measured.generator_bound = true;
    }
    Results {
        machine: Machine {
            cpu: "Test CPU <9000> | fast".into(),
            cores: 8,
            memory_gib: 31.4,
            kernel: "6.8.0-test".into(),
            galette: "0.1.0 (abc1234)".into(),
        },
        quick: true,
        started: "2026-05-01T12:00:00Z".into(),
        generator_ceiling: vec![
            GeneratorCeiling { frame_bytes: 64, pps: 3.1e6 },
            GeneratorCeiling { frame_bytes: 1518, pps: 0.8e6 },
        ],
        forwarding: forwarding_points,
        expensive: vec![
            expensive(ExpensivePlacement::Xdp, 1, 0.0, 50e3),
            expensive(ExpensivePlacement::Xdp, 1, 0.1, 10e3),
            expensive(ExpensivePlacement::Xdp, 1, 0.5, 2e3),
            expensive(ExpensivePlacement::Userland, 1, 0.0, 50e3),
            expensive(ExpensivePlacement::Userland, 1, 0.1, 123e3),
            expensive(ExpensivePlacement::Userland, 1, 0.5, 20e3),
            expensive(ExpensivePlacement::Userland, 2, 0.5, 38e3),
            expensive(ExpensivePlacement::Userland, 4, 0.5, 70e3),
        ],
        chain_cost: vec![
            ChainCost { nfs: 8, galette_ns: 45.6, galette_calls_ns: Some(50.2), handwritten_ns: 24.0 },
            ChainCost { nfs: 1, galette_ns: 10.0, galette_calls_ns: None, handwritten_ns: 10.0 },
        ],
        compiler: vec![CompilerTiming {
            what: "check and place a 10,000-instance chain".into(),
            median_ms: 12.345,
            runs: 5,
        }],
        reload: vec![reload_run(ReloadTier::Xdp, 100e3), reload_run(ReloadTier::TwoTier, 100e3)],
        fleet: vec![FleetScale {
            agents: 200,
            p50_ms: 210.0,
            p99_ms: 480.0,
            max_ms: 495.0,
            agent_cpu_ms: 12.5,
            agent_rss_kib_mean: 9000.0,
            agent_rss_kib_max: 9500.0,
            broker_cpu_ms_per_agent: 0.4,
            broker_rss_kib_per_agent: 20.0,
            registry_cpu_ms_per_agent: 3.0,
        }],
        dut_cost: vec![
            dut_cost(Dut::GaletteXdp, 1_000_000, &[("galette_nf_0", 0), ("galette_rx", 30)], 250),
            dut_cost(Dut::AyaXdp, 1_000_000, &[("bench_macswap", 20)], 200),
        ],
        cores: Some(CoreCheck {
            generator_cpu: 0,
            dut_cpus: vec![1],
            dut_frames_per_cpu: vec![0, 1000],
            slow_dut: Some(SlowDut { frame_bytes: 64, offered_pps: 3.0e6, handled_pps: 0.6e6, ceiling_pps: 3.1e6 }),
        }),
        conntrack: Some(conntrack()),
    }
}

/// A fresh directory under the system's temporary one.
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "galette-bench-report-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn file_names(paths: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> =
        paths.iter().filter_map(|path| Some(path.file_name()?.to_str()?.to_string())).collect();
    names.sort();
    names
}

/// Checks that `document` is well-formed XML as far as the report's SVG
/// uses it: tags balance, attribute values are quoted, `<` and `&` only
/// start markup and entities, and there is one root element.
fn check_xml(document: &str) -> Result<(), String> {
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = document;
    while let Some(start) = rest.find(['<', '&']) {
        check_text(&rest[..start])?;
        rest = &rest[start..];
        if rest.starts_with('&') {
            let end = rest.find(';').ok_or("an & without ;")?;
            check_entity(&rest[..=end])?;
            rest = &rest[end + 1..];
            continue;
        }
        let end = rest.find('>').ok_or("a < without >")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let expected = open.pop().ok_or_else(|| format!("</{name}> closes nothing"))?;
            if expected != name {
                return Err(format!("</{name}> closes <{expected}>"));
            }
            continue;
        }
        if open.is_empty() {
            roots += 1;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':') {
            return Err(format!("bad tag name in <{tag}>"));
        }
        check_attributes(&tag[name_end..])?;
        if !self_closing {
            open.push(name.to_string());
        }
    }
    check_text(rest)?;
    match (open.last(), roots) {
        (Some(name), _) => Err(format!("<{name}> is never closed")),
        (None, 1) => Ok(()),
        (None, roots) => Err(format!("{roots} root elements")),
    }
}

fn check_text(text: &str) -> Result<(), String> {
    if text.contains('>') && text.contains("]]>") {
        return Err("]]> in text".into());
    }
    Ok(())
}

fn check_entity(entity: &str) -> Result<(), String> {
    match entity {
        "&amp;" | "&lt;" | "&gt;" | "&quot;" | "&apos;" => Ok(()),
        other => Err(format!("unknown entity {other}")),
    }
}

/// `name="value"` pairs, each name once.
fn check_attributes(mut attributes: &str) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::new();
    loop {
        attributes = attributes.trim_start();
        if attributes.is_empty() {
            return Ok(());
        }
        let equals = attributes.find('=').ok_or_else(|| format!("attribute without value: {attributes}"))?;
        let name = &attributes[..equals];
        if seen.contains(&name) {
            return Err(format!("attribute {name} twice"));
        }
        seen.push(name);
        let value = attributes[equals + 1..].strip_prefix('"').ok_or_else(|| format!("unquoted value of {name}"))?;
        let end = value.find('"').ok_or_else(|| format!("unterminated value of {name}"))?;
        if value[..end].contains('<') {
            return Err(format!("< in the value of {name}"));
        }
        let mut value_rest = &value[..end];
        while let Some(amp) = value_rest.find('&') {
            let semicolon = value_rest[amp..].find(';').ok_or("an & without ; in a value")?;
            check_entity(&value_rest[amp..=amp + semicolon])?;
            value_rest = &value_rest[amp + semicolon + 1..];
        }
        attributes = &value[end + 1..];
    }
}

/// Checks every plot of `results` and returns them.
fn checked_plots(results: &Results) -> Vec<Plot> {
    let plots = plots(results);
    for plot in &plots {
        assert!(plot.svg.starts_with("<svg"), "{} starts with <svg", plot.file_name);
        assert!(plot.svg.trim_end().ends_with("</svg>"), "{} ends with </svg>", plot.file_name);
        assert!(plot.svg.contains(r#"viewBox="0 0 720 420""#), "{} has a viewBox", plot.file_name);
        if let Err(error) = check_xml(&plot.svg) {
            panic!("{} is not well-formed: {error}\n{}", plot.file_name, plot.svg);
        }
        for bad in ["NaN", "inf"] {
            assert!(!plot.svg.contains(bad), "{} holds {bad}", plot.file_name);
        }
    }
    plots
}

fn svg_of<'a>(plots: &'a [Plot], file_name: &str) -> &'a str {
    plots
        .iter()
        .find(|plot| plot.file_name == file_name)
        .map(|plot| plot.svg.as_str())
        .unwrap_or_else(|| panic!("no {file_name}"))
}

#[test]
fn the_checker_catches_broken_xml() {
    assert!(check_xml(r#"<svg a="1"><g><text>x &amp; y</text></g></svg>"#).is_ok());
    assert!(check_xml("<svg><g></svg>").is_err());
    assert!(check_xml("<svg></svg><svg></svg>").is_err());
    assert!(check_xml(r#"<svg a=1></svg>"#).is_err());
    assert!(check_xml(r#"<svg a="1" a="2"></svg>"#).is_err());
    assert!(check_xml("<svg>a & b</svg>").is_err());
    assert!(check_xml("<svg><text>").is_err());
}

#[test]
fn write_report_writes_json_markdown_and_plots() {
    let dir = scratch_dir();
    let written = write_report(&synthetic(), &dir).expect("writes the report");
    assert_eq!(
        file_names(&written),
        [
            "chain-cost.svg",
            "expensive-classes-p99.svg",
            "expensive-p99.svg",
            "expensive-share.svg",
            "expensive-workers.svg",
            "latency-1518B.svg",
            "latency-64B.svg",
            "reload-two-tier-100kpps.svg",
            "reload-xdp-100kpps.svg",
            "results.json",
            "results.md",
            "throughput-1518B.svg",
            "throughput-64B.svg",
        ]
    );
    for path in &written {
        assert!(path.starts_with(&dir) && path.is_file(), "{} written", path.display());
    }
    let json = std::fs::read_to_string(dir.join("results.json")).expect("reads the JSON");
    let back: Results = serde_json::from_str(&json).expect("the JSON reads back");
    assert_eq!(back.forwarding.len(), synthetic().forwarding.len());
    assert_eq!(back.machine.cpu, "Test CPU <9000> | fast");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plots_are_well_formed_and_show_every_series() {
    let plots = checked_plots(&synthetic());
    for file in ["latency-64B.svg", "throughput-64B.svg"] {
        for label in ["galette-xdp", "galette-afxdp-1w-irq", "aya-xdp", "af-packet"] {
            assert!(svg_of(&plots, file).contains(&format!(">{label}</text>")), "{file} shows {label}");
        }
    }
    let latency = svg_of(&plots, "latency-64B.svg");
    assert_eq!(latency.matches("fill-opacity=\"0.3\"/>").count(), 4 * 3, "a box per device and rate");
    assert!(latency.contains(">max</text>") && latency.contains(">100</text>") && latency.contains(">1000</text>"));
    assert!(svg_of(&plots, "throughput-64B.svg").contains("stroke-dasharray"), "the offered = delivered line");
    for label in ["XDP", "userland, 1 worker", "userland, 2 workers", "userland, 4 workers"] {
        assert!(
            svg_of(&plots, "expensive-share.svg").contains(&format!(">{label}</text>")),
            "expensive-share shows {label}"
        );
        assert!(
            svg_of(&plots, "expensive-p99.svg").contains(&format!(">{label}</text>")),
            "expensive-p99 shows {label}"
        );
    }
    let classes = svg_of(&plots, "expensive-classes-p99.svg");
    for label in ["XDP: normal", "XDP: expensive", "userland: normal", "userland: expensive"] {
        assert!(classes.contains(&format!(">{label}</text>")), "expensive-classes-p99 shows {label}");
    }
    assert!(classes.contains("stroke-dasharray"), "the expensive class dashed");
    assert!(svg_of(&plots, "expensive-workers.svg").contains(">userland, P=0.5</text>"));
    assert!(svg_of(&plots, "expensive-workers.svg").contains(">XDP, P=0.5</text>"));
    assert!(
        svg_of(&plots, "chain-cost.svg").contains(">galette (fused, inlined)</text>")
            && svg_of(&plots, "chain-cost.svg").contains(">galette (fused, BPF-to-BPF calls)</text>")
    );
    assert!(svg_of(&plots, "chain-cost.svg").contains(">hand-written</text>"));
    let reload = svg_of(&plots, "reload-xdp-100kpps.svg");
    for label in ["asked for", "without reloads", "with 50 reloads"] {
        assert!(reload.contains(&format!(">{label}</text>")), "the reload plot shows {label}");
    }
    // The generator's pause in bucket 60 breaks the line with reloads in two.
    assert_eq!(reload.matches("<polyline").count(), 1 + 1 + 1 + 2, "the axes, asked for, without, with: {reload}");
}

#[test]
fn markdown_has_every_section_and_the_numbers() {
    let markdown = markdown(&synthetic());
    for expected in [
        "# Galette benchmark results",
        "- **Date:** 2026-05-01T12:00:00Z",
        "- **Run:** quick",
        "- **CPU:** Test CPU &lt;9000> | fast, 8 cores",
        "- **Memory:** 31.4 GiB",
        "- **Kernel:** 6.8.0-test",
        "- **Galette:** 0.1.0 (abc1234)",
        "## Ratios",
        "## Generator ceiling",
        "| 64 B | 3.100 Mpps | 1488.0 |",
        "## Forwarding",
        "### 64 B frames",
        "### 1518 B frames",
        "| galette-xdp | max (3.100 Mpps) | 2.000 Mpps |",
        "| galette-xdp | max (3.100 Mpps) | ≥ 200.0 kpps |",
        "≥: the generator, not the device, set the limit",
        "| 40.0 | 60.0 | 160.0 | 0.75 |",
        "### Every point",
        "| aya-xdp | 64 B | 100.0 kpps | 100.0 kpps | 0.00 % | 10.0 | 40.0 | 0.75 |",
        "## Expensive NF",
        "100000 operations each",
        "| P | XDP: delivered | XDP: p99 | userland, 1 worker: delivered | userland, 1 worker: p99 |",
        "| 0.1 | 10.0 kpps | 80.0 | 123.0 kpps | 80.0 |",
        "### Normal and expensive traffic apart",
        "| P | XDP: normal delivered | XDP: normal p99 | XDP: expensive delivered | XDP: expensive p99 | userland, 1 worker: normal delivered |",
        "| 0 | 50.0 kpps | 80.0 | 0 pps | – | 50.0 kpps | 80.0 | 0 pps | – |",
        "| 0.1 | 9.0 kpps | 80.0 | 1.0 kpps | 2500 | 110.7 kpps | 80.0 | 12.3 kpps | 2500 |",
        "### Userland workers, P=0.5",
        "| 4 | 70.0 kpps |",
        "## Chain cost",
        "| 8 | 45.6 | 50.2 | 24.0 | 1.90× |",
        "## Compiler",
        "| check and place a 10,000-instance chain | 12.3 | 5 |",
        "## Per-packet cost",
        "| galette-xdp | 64 B | 500.0 kpps | 500.0 kpps | 0.00 % | 30.0 | 250 |",
        "| aya-xdp | 64 B | 500.0 kpps | 500.0 kpps | 0.00 % | 20.0 | 200 |",
        "| galette-xdp | galette_nf_0 | 10 | 0 | 0.0 | – |",
        "| galette-xdp | galette_rx | 11 | 1000000 | 30.0 | 30.0 |",
        "## Plots",
        "![Latency, 64 B frames](latency-64B.svg)",
        "![Chain cost under BPF_PROG_TEST_RUN](chain-cost.svg)",
        "## Live reload",
        "- XDP only: tests/reload/marks_once.gal ↔ tests/reload/marks_twice.gal",
        "| Chain | Reloads | Switch p50 | Switch p99 | Command p50 | Command p99 |",
        "| XDP only at 100.0 kpps | 50 | 3.45 | 5.85 | 3.00 | 3.00 |",
        "| two-tier at 100.0 kpps | 50 |",
        "Delivered per 10 ms bucket",
        "| XDP only at 100.0 kpps | without reloads | 100.0 kpps | 100000 | 10 | 7 | 98 | 0 | 100.0 kpps | 100.0 kpps | 100.0 kpps | 100.00 % |",
        "| XDP only at 100.0 kpps | with 50 reloads | 98.5 kpps | 98500 | 0 | 7 | 20 | 0 | 100.0 kpps | 59.5 kpps | 50.0 kpps | 50.00 % |",
        "![Live reload, XDP only at 100.0 kpps: delivered per bucket](reload-xdp-100kpps.svg)",
    ] {
        assert!(markdown.contains(expected), "the Markdown lacks {expected:?}:\n{markdown}");
    }
    assert!(!markdown.contains("Not measured"));
}

#[test]
fn ratios_compare_peaks_with_the_baselines() {
    let lines = ratios(&synthetic());
    for expected in [
        "64 B: galette-xdp forwards 2.00× aya-xdp (2.000 vs 1.000 Mpps, offered 3.100 vs 3.100 Mpps), \
         6.67× af-packet (2.000 vs 0.300 Mpps, offered 3.100 vs 3.100 Mpps)",
        "64 B: galette-afxdp-1w-irq forwards 1.60× af-packet (480.0 vs 300.0 kpps, offered 3.100 vs 3.100 Mpps)",
        "1518 B: galette-xdp forwards ≥ 2.00× aya-xdp (200.0 vs 100.0 kpps, offered 3.100 vs 3.100 Mpps), \
         ≥ 6.67× af-packet (200.0 vs 30.0 kpps, offered 3.100 vs 3.100 Mpps)",
        "expensive NF, P=0: userland 1.00× the throughput of XDP (50.0 vs 50.0 kpps)",
        "expensive NF, P=0.1: userland 12.3× the throughput of XDP (123.0 vs 10.0 kpps)",
        "expensive NF, P=0.5: 4 userland workers 3.50× the throughput of one (70.0 vs 20.0 kpps)",
        "expensive NF, P=0.5: the normal traffic delivered 0.40 of what was offered with the NF upcalled, 0.04 with \
         it in XDP (offered 50.0 vs 50.0 kpps)",
        "expensive NF, P=0.5: the normal traffic keeps 0.40× of its P=0 throughput with the NF upcalled, 0.04× with it \
         in XDP",
        "chain of 1 NF: 1.00× the hand-written program's cost (10.0 vs 10.0 ns/pkt)",
        "chain of 8 NFs: 1.90× the hand-written program's cost (45.6 vs 24.0 ns/pkt)",
        "per-packet cost, 64 B at 500.0 kpps: galette-xdp costs 1.50× aya-xdp in eBPF (30.0 vs 20.0 ns/pkt), \
         1.25× in the kernel's receive processing (250 vs 200 ns/pkt)",
        "conntrack gateway, TCP: galette-conntrack moves 2.00× the nftables bridge's throughput (2100 vs 1050 Mbit/s, \
         median of 3 and 3 runs)",
    ] {
        assert!(lines.iter().any(|line| line == expected), "no ratio line {expected:?} in {lines:#?}");
    }
    assert_eq!(lines.len(), 17, "{lines:#?}");
}

/// A cost ratio compares like with like or is not printed as a result: the
/// same offered rate (within 5 %), and (almost) every frame forwarded.
#[test]
fn per_packet_costs_compare_only_at_the_same_rate_without_loss() {
    let aya = dut_cost(Dut::AyaXdp, 1_000_000, &[("bench_macswap", 20)], 200);
    let mut slow = dut_cost(Dut::GaletteXdp, 1_000_000, &[("galette_rx", 30)], 250);
    slow.sent = 800_000;
    slow.received = 800_000;
    let lossy = dut_cost(Dut::GaletteXdp, 900_000, &[("galette_rx", 30)], 250);
    let at = |galette: DutCost| ratios(&Results { dut_cost: vec![galette, aya.clone()], ..Results::default() });
    assert_eq!(at(slow), ["per-packet cost, 64 B at 500.0 kpps: not compared: offered 400.0 vs 500.0 kpps"]);
    assert_eq!(
        at(lossy),
        ["per-packet cost, 64 B at 500.0 kpps: not compared: galette-xdp lost 10.00 % of the frames"]
    );
    let mut nothing = dut_cost(Dut::GaletteXdp, 0, &[], 0);
    nothing.sent = 0;
    let lines = at(nothing);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("not compared"), "{lines:?}");
}

/// Without a full-speed run of both, the highest rate both were offered.
#[test]
fn without_a_common_saturation_run_ratios_compare_the_highest_rate_offered_to_both() {
    let results = Results {
        forwarding: vec![
            forwarding(Dut::GaletteXdp, 64, Some(1e6), 1e6, 5.0),
            forwarding(Dut::GaletteXdp, 64, Some(2e6), 1.5e6, 5.0),
            forwarding(Dut::AyaXdp, 64, Some(1e6), 0.75e6, 5.0),
        ],
        ..Results::default()
    };
    assert_eq!(
        ratios(&results),
        ["64 B: galette-xdp forwards 1.33× aya-xdp (1.000 vs 0.750 Mpps, offered 1.000 vs 1.000 Mpps)"]
    );
}

/// Two devices as fast as the generator goes, one of which held the
/// generator back: a ratio of what each was offered, never a result (the
/// issue's "4.49× aya-xdp (2.931 vs 0.652 Mpps)").
#[test]
fn forwarding_compares_only_points_offered_the_same_rate() {
    let full_speed = |dut: Dut, offered: f64| {
        let mut point = forwarding(dut, 1518, None, offered, 5.0);
        point.measured.offered_pps = offered;
        point.measured.loss = 0.0;
        point.measured.generator_bound = true;
        point
    };
    let mut results = Results {
        forwarding: vec![full_speed(Dut::GaletteXdp, 2.931e6), full_speed(Dut::AyaXdp, 0.652e6)],
        ..Results::default()
    };
    assert_eq!(ratios(&results), ["1518 B: galette-xdp not compared with aya-xdp: offered 2.931 vs 0.652 Mpps"]);

    // Within 5 % is the same rate; a lower rate both were offered alike
    // stands in for the full-speed pair.
    results.forwarding.push(forwarding(Dut::GaletteXdp, 1518, Some(250e3), 250e3, 5.0));
    let mut aya = forwarding(Dut::AyaXdp, 1518, Some(250e3), 240e3, 5.0);
    aya.measured.offered_pps = 240e3;
    results.forwarding.push(aya);
    assert_eq!(
        ratios(&results),
        ["1518 B: galette-xdp forwards 1.04× aya-xdp (250.0 vs 240.0 kpps, offered 250.0 vs 240.0 kpps)"]
    );
    results.forwarding.last_mut().unwrap().measured.offered_pps = 230e3;
    assert_eq!(ratios(&results), ["1518 B: galette-xdp not compared with aya-xdp: offered 2.931 vs 0.652 Mpps"]);
}

#[test]
fn expensive_ratios_compare_only_points_offered_the_same_rate() {
    let userland = expensive(ExpensivePlacement::Userland, 1, 0.5, 20e3);
    let mut xdp = expensive(ExpensivePlacement::Xdp, 1, 0.5, 15e3);
    let mut two = expensive(ExpensivePlacement::Userland, 2, 0.5, 38e3);
    xdp.measured.offered_pps = 30e3;
    two.measured.offered_pps = 48e3;
    let results = Results { expensive: vec![xdp, userland, two], ..Results::default() };
    assert_eq!(
        ratios(&results),
        [
            "expensive NF, P=0.5: userland not compared with XDP: offered 50.0 vs 30.0 kpps",
            "expensive NF, P=0.5: 2 userland workers 1.90× the throughput of one (38.0 vs 20.0 kpps)",
        ]
    );
}

#[test]
fn the_report_says_where_the_generator_and_the_dut_ran() {
    let text = markdown(&synthetic());
    let expected = "The generator's thread ran on CPU 0; the device under test's receive processing (threaded NAPI \
                    on its veth) and its processes on CPU 1. While the ceiling was measured, the DUT handled 100.00 % \
                    of its frames there. A DUT slowed down on purpose handled 600.0 kpps of 64 B frames and lost \
                    80.00 % of them, while the generator offered 3.000 Mpps (0.97× its ceiling of 3.100 Mpps).";
    assert!(text.contains(expected), "{text}");
    let mut results = synthetic();
    results.cores = Some(CoreCheck { dut_frames_per_cpu: vec![300, 700], ..results.cores.clone().unwrap() });
    assert!(markdown(&results).contains("the DUT handled 70.00 % of its frames there"));
    assert!(!markdown(&Results::default()).contains("threaded NAPI"));
}

#[test]
fn an_empty_run_gives_an_outline_and_no_plots() {
    let results = Results::default();
    let markdown = markdown(&results);
    for section in [
        "# Galette benchmark results",
        "## Generator ceiling",
        "## Forwarding",
        "## Expensive NF",
        "## Chain cost",
        "## Compiler",
        "## Live reload",
        "## Fleet",
        "## Per-packet cost",
        "## Conntrack",
    ] {
        assert!(markdown.contains(section), "no {section}");
    }
    assert_eq!(markdown.matches("Not measured in this run.").count(), 9);
    assert!(markdown.contains("- **CPU:** unknown, 0 cores"));
    assert!(!markdown.contains("## Ratios") && !markdown.contains("## Plots"));
    assert!(ratios(&results).is_empty());
    assert!(plots(&results).is_empty());
    let dir = scratch_dir();
    let written = write_report(&results, &dir).expect("writes the report");
    assert_eq!(file_names(&written), ["results.json", "results.md"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every float of `results` replaced, in turn, by each of `values`.
fn poisoned(value: f64) -> Results {
    let mut results = synthetic();
    let poison = |measured: &mut Measured| {
        *measured = Measured {
            offered_pps: value,
            pps: value,
            mbps: value,
            loss: value,
            latency: Latency { p1: value, p25: value, p50: value, p75: value, p99: value, samples: 0 },
            dut_cpu: value,
            generator_bound: true,
        }
    };
    results.machine.memory_gib = value;
    results.generator_ceiling.iter_mut().for_each(|ceiling| ceiling.pps = value);
    for point in &mut results.forwarding {
        point.target_pps = point.target_pps.map(|_| value);
        poison(&mut point.measured);
    }
    for point in &mut results.expensive {
        point.share = value;
        poison(&mut point.measured);
        let latency = point.measured.latency.clone();
        let class = ClassMeasured { frames: 0, pps: value, latency };
        point.classes = Some(ExpensiveClasses { normal: class.clone(), expensive: class });
    }
    for cost in &mut results.chain_cost {
        cost.galette_ns = value;
        cost.handwritten_ns = value;
    }
    results.compiler.iter_mut().for_each(|timing| timing.median_ms = value);
    results.reload.iter_mut().for_each(|run| run.target_pps = value);
    results.dut_cost.iter_mut().for_each(|cost| cost.target_pps = value);
    results
}

#[test]
fn broken_values_neither_panic_nor_leak_into_the_output() {
    for value in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        -1.0,
        -1e300,
        1e300,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
    ] {
        let results = poisoned(value);
        let markdown = markdown(&results);
        for bad in ["NaN", "inf"] {
            assert!(!markdown.contains(bad), "{value}: the Markdown holds {bad}:\n{markdown}");
        }
        if !value.is_finite() {
            assert!(
                markdown.contains("| galette-xdp | max (–) | – | – | – |"),
                "{value}: missing values show as –:\n{markdown}"
            );
        }
        for line in ratios(&results) {
            assert!(!line.contains("NaN") && !line.contains("inf"), "{value}: {line}");
        }
        checked_plots(&results);
        let dir = scratch_dir();
        write_report(&results, &dir).expect("writes the report");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `results.json` reads back to the run that wrote it, whatever its values:
/// NaN and the infinities included, which JSON has no numbers for.
#[test]
fn results_json_reads_back_to_the_same_run() {
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, -1e300, f64::MAX, 5e-324, 0.1] {
        let results = poisoned(value);
        let dir = scratch_dir();
        write_report(&results, &dir).expect("writes the report");
        let back = read_results(&dir.join("results.json")).expect("reads the JSON back");
        let _ = std::fs::remove_dir_all(&dir);
        let json = |results: &Results| serde_json::to_string_pretty(results).unwrap();
        assert_eq!(json(&back), json(&results), "{value}");
        let measured = &back.forwarding[0].measured;
        for read in [measured.pps, measured.latency.p99, back.machine.memory_gib, back.chain_cost[0].galette_ns] {
            assert_eq!(read.to_bits(), value.to_bits(), "{value} read back as {read}");
        }
        let target = back.forwarding.iter().find_map(|point| point.target_pps).expect("a point with a target");
        assert_eq!(target.to_bits(), value.to_bits(), "{value}");
        assert!(back.forwarding.iter().any(|point| point.target_pps.is_none()), "`None` stays `None`");
        assert_eq!(back.reload[0].target_pps.to_bits(), value.to_bits(), "{value}");
        assert_eq!(back.reload[0].reloads, results.reload[0].reloads);
        assert_eq!(back.dut_cost[0].target_pps.to_bits(), value.to_bits(), "{value}");
        assert_eq!(back.dut_cost[0].programs, results.dut_cost[0].programs);
        let classes = back.expensive[0].classes.as_ref().expect("the classes read back");
        assert_eq!(classes.expensive.pps.to_bits(), value.to_bits(), "{value}");
        assert_eq!(classes.normal.latency.p99.to_bits(), value.to_bits(), "{value}");
    }
}

/// A `results.json` from before NaN was written as `"NaN"` has `null` for
/// what was not measured: it reads back, with those values as NaN.
#[test]
fn an_older_results_json_with_nulls_reads_back() {
    let dir = scratch_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut json: serde_json::Value = serde_json::to_value(synthetic()).unwrap();
    json["forwarding"][0]["measured"]["latency"]["p99"] = serde_json::Value::Null;
    json["chain_cost"][0]["handwritten_ns"] = serde_json::Value::Null;
    // Nor did it have the reload experiment.
    json.as_object_mut().unwrap().remove("reload");
    // Nor the per-packet cost.
    json.as_object_mut().unwrap().remove("dut_cost");
    // Nor the expensive-NF experiment's classes of traffic.
    for point in json["expensive"].as_array_mut().unwrap() {
        point.as_object_mut().unwrap().remove("classes");
    }
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
    let back = read_results(&path).expect("reads the older file");
    assert!(back.forwarding[0].measured.latency.p99.is_nan());
    assert!(back.chain_cost[0].handwritten_ns.is_nan());
    assert_eq!(back.forwarding[0].measured.latency.p50, synthetic().forwarding[0].measured.latency.p50);
    assert!(back.reload.is_empty());
    assert!(back.dut_cost.is_empty());
    assert!(back.expensive.iter().all(|point| point.classes.is_none()));
    assert_eq!(back.expensive[1].measured.pps, synthetic().expensive[1].measured.pps);
    let markdown = markdown(&back);
    assert!(markdown.contains("### Normal and expensive traffic apart\n\nNot measured in this run"), "{markdown}");

    std::fs::write(&path, "{ \"machine\": 3 }").unwrap();
    let error = read_results(&path).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("is not a run's results"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_point_of_each_kind_is_enough() {
    let results = Results {
        forwarding: vec![forwarding(Dut::AfPacket, 64, None, 1e5, 30.0)],
        expensive: vec![expensive(ExpensivePlacement::Userland, 3, 0.25, 9e3)],
        chain_cost: vec![ChainCost { nfs: 2, galette_ns: 20.0, galette_calls_ns: None, handwritten_ns: 0.0 }],
        ..Results::default()
    };
    let names: Vec<String> = checked_plots(&results).into_iter().map(|plot| plot.file_name).collect();
    assert_eq!(
        names,
        ["latency-64B.svg", "throughput-64B.svg", "expensive-share.svg", "expensive-p99.svg", "chain-cost.svg"]
    );
    assert!(ratios(&results).is_empty(), "no baseline to compare with, and a zero cost");
    assert!(markdown(&results).contains("| 2 | 20.0 | – | 0.0 | – |"));
}

#[test]
fn the_normal_traffic_is_compared_with_p0_only_at_the_same_offered_rate() {
    let mut results = synthetic();
    for point in results.expensive.iter_mut().filter(|point| point.share == 0.0) {
        point.measured.offered_pps = 40e3;
    }
    let lines = ratios(&results);
    let expected =
        "expensive NF, P=0.5: the normal traffic's throughput not compared with P=0: offered 50.0 vs 40.0 kpps";
    assert!(lines.iter().any(|line| line == expected), "{lines:#?}");
    assert!(!lines.iter().any(|line| line.contains("keeps")), "{lines:#?}");
    // P = 0.5 upcalled and in XDP were offered the same rate: still compared.
    assert!(lines.iter().any(|line| line.starts_with("expensive NF, P=0.5: the normal traffic delivered 0.40")));
}

#[test]
fn the_fleet_section_shows_the_publish_to_many_agents() {
    let text = markdown(&synthetic());
    let section = text.split("## Fleet").nth(1).expect("a fleet section");
    assert!(section.contains("| 200 | 210.0 | 480.0 | 495.0 | 12.5 | 9000 / 9500 |"), "{section}");
    assert!(markdown(&Results::default()).split("## Fleet").nth(1).unwrap().contains("Not measured"));
}

fn gateway(gateway: Gateway, runs: &[f64], dropped: bool) -> GatewayThroughput {
    GatewayThroughput {
        gateway,
        runs: runs.iter().map(|&mbps| IperfRun { mbps, retransmits: 1 }).collect(),
        median_mbps: runs[runs.len() / 2],
        unsolicited_syn_dropped: Some(dropped),
    }
}

fn conntrack() -> Conntrack {
    Conntrack {
        setup: "iperf3, one TCP stream".into(),
        gateways: vec![
            gateway(Gateway::GaletteConntrack, &[2000.0, 2100.0, 2200.0], true),
            gateway(Gateway::NftablesBridge, &[1000.0, 1050.0, 1100.0], true),
            gateway(Gateway::LinuxBridge, &[3000.0, 3000.0, 3000.0], false),
        ],
        costs: vec![ConntrackCost { case: "conntrack_in, hit".into(), ns: 60.0, nop_ns: 20.0 }],
    }
}

#[test]
fn conntrack_compares_with_the_nftables_bridge_only_when_it_filtered() {
    let mut results = Results { conntrack: Some(conntrack()), ..Results::default() };
    assert_eq!(
        ratios(&results),
        [
            "conntrack gateway, TCP: galette-conntrack moves 2.00× the nftables bridge's throughput (2100 vs 1050 Mbit/s, median of 3 and 3 runs)"
        ]
    );
    let text = markdown(&results);
    assert!(text.contains("## Conntrack\n\niperf3, one TCP stream\n\n"), "{text}");
    assert!(text.contains("| galette-conntrack | 2100 | 2.00× | 2000, 2100, 2200 | 3 | yes |"), "{text}");
    assert!(text.contains("| linux-bridge | 3000 | 2.86× | 3000, 3000, 3000 | 3 | no |"), "{text}");
    assert!(text.contains("| conntrack_in, hit | 60.0 | 20.0 | 40.0 |"), "{text}");
    results.conntrack.as_mut().unwrap().gateways[1].unsolicited_syn_dropped = Some(false);
    assert_eq!(
        ratios(&results),
        ["conntrack gateway, TCP: not compared: nftables-bridge let an unsolicited SYN from the WAN through"]
    );
}

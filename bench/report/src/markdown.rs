//! The Markdown summary of a run: the machine, the ratio lines, a section
//! of tables per experiment, and the plots. A section the run has no data
//! for says so, so that every report has the same outline.

use std::fmt::Write;

use crate::numbers::{MISSING, fixed, percent, pps, quotient, ratio, share, short, time};
use crate::plots::{expensive_label, plots};
use crate::ratios::ratios;
use crate::reload::{BucketSummary, percentile};
use crate::results::{
    ChainCost, ClassMeasured, CompilerTiming, Conntrack, CoreCheck, DutCost, ExpensivePlacement, ExpensivePoint,
    FleetScale, ForwardingPoint, GeneratorCeiling, Measured, ReloadPhase, ReloadRun, Results,
};
use crate::select;

const NOT_MEASURED: &str = "Not measured in this run.\n\n";

/// The whole Markdown document.
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    header(&mut out, results);
    ratio_lines(&mut out, results);
    generator_ceiling(&mut out, &results.generator_ceiling);
    cores(&mut out, results.cores.as_ref());
    forwarding(&mut out, &results.forwarding, &results.generator_ceiling);
    dut_cost(&mut out, &results.dut_cost);
    expensive(&mut out, &results.expensive);
    chain_cost(&mut out, &results.chain_cost);
    conntrack(&mut out, results.conntrack.as_ref());
    compiler(&mut out, &results.compiler);
    reload(&mut out, &results.reload);
    fleet(&mut out, &results.fleet);
    plot_links(&mut out, results);
    out
}

fn header(out: &mut String, results: &Results) {
    let machine = &results.machine;
    let run = if results.quick { "quick (fewer sizes, rates and repetitions)" } else { "full" };
    let cores = if machine.cores == 1 { "core" } else { "cores" };
    out.push_str("# Galette benchmark results\n\n");
    // Writing into a `String` cannot fail.
    let _ = write!(
        out,
        "- **Date:** {}\n- **Run:** {run}\n- **CPU:** {}, {} {cores}\n- **Memory:** {} GiB\n- **Kernel:** {}\n- **Galette:** {}\n\n",
        text(&results.started),
        text(&machine.cpu),
        machine.cores,
        fixed(machine.memory_gib, 1),
        text(&machine.kernel),
        text(&machine.galette),
    );
}

fn ratio_lines(out: &mut String, results: &Results) {
    let lines = ratios(results);
    if lines.is_empty() {
        return;
    }
    out.push_str("## Ratios\n\n");
    for line in lines {
        let _ = writeln!(out, "- {}", text(&line));
    }
    out.push('\n');
}

fn generator_ceiling(out: &mut String, ceilings: &[GeneratorCeiling]) {
    out.push_str("## Generator ceiling\n\n");
    if ceilings.is_empty() {
        out.push_str(NOT_MEASURED);
        return;
    }
    out.push_str(
        "The generator alone, against a device that drops every frame at once: no result above it can be trusted.\n\n",
    );
    let mut ceilings: Vec<&GeneratorCeiling> = ceilings.iter().collect();
    ceilings.sort_by_key(|ceiling| ceiling.frame_bytes);
    let rows = ceilings
        .iter()
        .map(|ceiling| vec![format!("{} B", ceiling.frame_bytes), pps(ceiling.pps), fixed(ceiling_mbps(ceiling), 1)])
        .collect();
    table(out, &["Frame", "Ceiling", "Mbit/s"], rows);
}

/// Where the generator and the device under test ran, and what showed it.
fn cores(out: &mut String, cores: Option<&CoreCheck>) {
    let Some(cores) = cores else { return };
    let cpus = |cpus: &[u32]| cpus.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let _ = write!(
        out,
        "The generator's thread ran on CPU {}; the device under test's receive processing (threaded NAPI on its \
         veth) and its processes on CPU {}.",
        cores.generator_cpu,
        cpus(&cores.dut_cpus)
    );
    if !cores.dut_frames_per_cpu.is_empty() {
        let _ = write!(
            out,
            " While the ceiling was measured, the DUT handled {} of its frames there.",
            percent(cores.dut_share_on_own_cpus())
        );
    }
    if let Some(slow) = &cores.slow_dut {
        let loss = 1.0 - slow.handled_pps / slow.offered_pps;
        let kept = quotient(slow.offered_pps, slow.ceiling_pps).map_or_else(|| MISSING.into(), ratio);
        let _ = write!(
            out,
            " A DUT slowed down on purpose handled {} of {} B frames and lost {} of them, while the generator \
             offered {} ({kept} its ceiling of {}).",
            pps(slow.handled_pps),
            slow.frame_bytes,
            percent(loss),
            pps(slow.offered_pps),
            pps(slow.ceiling_pps)
        );
    }
    out.push_str("\n\n");
}

/// Megabits per second at the ceiling, counted like the forwarding results:
/// frame bytes without the 4-byte FCS.
fn ceiling_mbps(ceiling: &GeneratorCeiling) -> f64 {
    ceiling.pps * f64::from(ceiling.frame_bytes.saturating_sub(4)) * 8.0 / 1e6
}

fn forwarding(out: &mut String, points: &[ForwardingPoint], ceilings: &[GeneratorCeiling]) {
    out.push_str("## Forwarding\n\n");
    if points.is_empty() {
        out.push_str(NOT_MEASURED);
        return;
    }
    out.push_str(
        "A macswap reflector, end to end. Per frame size, each device at its peak: as fast as the generator goes, \
         or when it was not run that way, the offered rate at which it delivered most. \
         Latency percentiles in µs; CPU in cores of the device under test kept busy.\n\n",
    );
    let duts = select::duts(points);
    for frame_bytes in select::frame_sizes(points) {
        let _ = write!(out, "### {frame_bytes} B frames\n\n");
        if let Some(ceiling) = ceilings.iter().find(|ceiling| ceiling.frame_bytes == frame_bytes) {
            let _ = write!(out, "Generator ceiling: {}.\n\n", pps(ceiling.pps));
        }
        let peaks: Vec<&ForwardingPoint> =
            duts.iter().filter_map(|dut| select::peak(points, dut, frame_bytes)).collect();
        let rows = peaks
            .iter()
            .map(|point| {
                let measured = &point.measured;
                let latency = &measured.latency;
                vec![
                    point.dut.label(),
                    offered(point),
                    delivered(measured),
                    fixed(measured.mbps, 1),
                    percent(measured.loss),
                    time(latency.p1),
                    time(latency.p25),
                    time(latency.p50),
                    time(latency.p75),
                    time(latency.p99),
                    fixed(measured.dut_cpu, 2),
                ]
            })
            .collect();
        table(
            out,
            &["Device", "Offered", "Delivered", "Mbit/s", "Loss", "p1", "p25", "p50", "p75", "p99", "CPU (cores)"],
            rows,
        );
        if peaks.iter().any(|point| point.measured.generator_bound) {
            out.push_str("≥: the generator, not the device, set the limit; the device may go faster.\n\n");
        }
    }
    out.push_str("### Every point\n\n");
    let mut rows = Vec::new();
    for frame_bytes in select::frame_sizes(points) {
        for dut in &duts {
            for point in select::points_of(points, dut, frame_bytes) {
                let measured = &point.measured;
                rows.push(vec![
                    dut.label(),
                    format!("{frame_bytes} B"),
                    offered(point),
                    delivered(measured),
                    percent(measured.loss),
                    time(measured.latency.p50),
                    time(measured.latency.p99),
                    fixed(measured.dut_cpu, 2),
                ]);
            }
        }
    }
    table(out, &["Device", "Frame", "Offered", "Delivered", "Loss", "p50 µs", "p99 µs", "CPU (cores)"], rows);
}

/// The rate asked for, or `max (…)` with what the generator managed.
fn offered(point: &ForwardingPoint) -> String {
    match point.target_pps {
        Some(target) => pps(target),
        None => format!("max ({})", pps(point.measured.offered_pps)),
    }
}

/// The delivered rate, `≥`-marked when the generator set the limit.
fn delivered(measured: &Measured) -> String {
    let rate = pps(measured.pps);
    if measured.generator_bound && rate != MISSING { format!("≥ {rate}") } else { rate }
}

fn dut_cost(out: &mut String, costs: &[DutCost]) {
    out.push_str("## Per-packet cost\n\n");
    if costs.is_empty() {
        out.push_str(NOT_MEASURED);
        return;
    }
    out.push_str(
        "The CPU time of each XDP device per packet at one fixed offered rate, the same for all, in the kernel's \
         own accounting. eBPF: the run time of all the device's programs (BPF_ENABLE_STATS) over the runs of \
         its attached program. Kernel: the machine's softirq time (10 ms ticks) and the run time of the DUT's \
         NAPI thread, where its XDP program runs, over the frames that came back; it holds the veth's receive \
         and transmit work and the sink's share, the same for every device.\n\n",
    );
    let rows = costs
        .iter()
        .map(|cost| {
            vec![
                cost.dut.label(),
                format!("{} B", cost.frame_bytes),
                pps(cost.offered_pps()),
                pps(cost.delivered_pps()),
                percent(cost.loss()),
                fixed(cost.xdp_ns_per_packet(), 1),
                fixed(cost.kernel_ns_per_packet(), 0),
            ]
        })
        .collect();
    table(out, &["Device", "Frame", "Offered", "Delivered", "Loss", "eBPF ns/pkt", "Kernel ns/pkt"], rows);
    let rows = costs
        .iter()
        .flat_map(|cost| {
            cost.programs.iter().map(|program| {
                vec![
                    cost.dut.label(),
                    program.name.clone(),
                    program.id.to_string(),
                    program.runs.to_string(),
                    fixed(program.run_ns as f64 / 1e6, 1),
                    fixed(program.run_ns as f64 / program.runs as f64, 1),
                ]
            })
        })
        .collect();
    table(out, &["Device", "Program", "Id", "Runs", "Run time (ms)", "ns/run"], rows);
}

fn expensive(out: &mut String, points: &[ExpensivePoint]) {
    out.push_str("## Expensive NF\n\n");
    let Some(first) = points.first() else {
        out.push_str(NOT_MEASURED);
        return;
    };
    let _ = write!(
        out,
        "A share P of the packets needs an NF doing {} operations each; the rest only a macswap. {} B frames, offered at {}. p99 latency in µs.\n\n",
        first.operations,
        first.frame_bytes,
        pps(first.measured.offered_pps)
    );
    let rows = select::shares(points)
        .into_iter()
        .map(|share_p| {
            let xdp = select::expensive_point(points, ExpensivePlacement::Xdp, 1, share_p).map(|point| &point.measured);
            let userland =
                select::expensive_point(points, ExpensivePlacement::Userland, 1, share_p).map(|point| &point.measured);
            let [xdp_pps, xdp_p99] = throughput_and_p99(xdp);
            let [userland_pps, userland_p99] = throughput_and_p99(userland);
            vec![share(share_p), xdp_pps, xdp_p99, userland_pps, userland_p99]
        })
        .collect();
    let (xdp, userland) =
        (expensive_label(ExpensivePlacement::Xdp, 1), expensive_label(ExpensivePlacement::Userland, 1));
    table(
        out,
        &[
            "P",
            &format!("{xdp}: delivered"),
            &format!("{xdp}: p99"),
            &format!("{userland}: delivered"),
            &format!("{userland}: p99"),
        ],
        rows,
    );
    expensive_classes(out, points);
    for share_p in select::scaling_shares(points) {
        let _ = write!(out, "### Userland workers, P={}\n\n", share(share_p));
        let at_share = points.iter().filter(|point| select::same_share(point.share, share_p));
        let rows = select::userland_workers(at_share)
            .into_iter()
            .filter_map(|workers| select::expensive_point(points, ExpensivePlacement::Userland, workers, share_p))
            .map(|point| {
                let measured = &point.measured;
                vec![
                    point.workers.to_string(),
                    delivered(measured),
                    percent(measured.loss),
                    time(measured.latency.p99),
                    fixed(measured.dut_cpu, 2),
                ]
            })
            .collect();
        table(out, &["Workers", "Delivered", "Loss", "p99", "CPU (cores)"], rows);
    }
}

/// The same points with the normal and the expensive traffic apart: what
/// the expensive frames do to the others is the experiment's point.
fn expensive_classes(out: &mut String, points: &[ExpensivePoint]) {
    out.push_str(
        "### Normal and expensive traffic apart

",
    );
    if points.iter().all(|point| point.classes.is_none()) {
        out.push_str(
            "Not measured in this run (its results predate the sink's classes).

",
        );
        return;
    }
    out.push_str("The sink tells the frames that went through the expensive NF (the chain lowers their TTL) from the rest. The chain picks them at random, so each class is offered about its share of the rate above. p99 latency in µs.

");
    let rows = select::shares(points)
        .into_iter()
        .map(|share_p| {
            let mut row = vec![share(share_p)];
            for placement in [ExpensivePlacement::Xdp, ExpensivePlacement::Userland] {
                let classes =
                    select::expensive_point(points, placement, 1, share_p).and_then(|point| point.classes.as_ref());
                for class in [classes.map(|classes| &classes.normal), classes.map(|classes| &classes.expensive)] {
                    row.extend(class_pps_and_p99(class));
                }
            }
            row
        })
        .collect();
    let (xdp, userland) =
        (expensive_label(ExpensivePlacement::Xdp, 1), expensive_label(ExpensivePlacement::Userland, 1));
    table(
        out,
        &[
            "P",
            &format!("{xdp}: normal delivered"),
            &format!("{xdp}: normal p99"),
            &format!("{xdp}: expensive delivered"),
            &format!("{xdp}: expensive p99"),
            &format!("{userland}: normal delivered"),
            &format!("{userland}: normal p99"),
            &format!("{userland}: expensive delivered"),
            &format!("{userland}: expensive p99"),
        ],
        rows,
    );
}

/// A class's delivered rate and p99; no p99 for a class none of whose frames
/// came back (at P = 0 there are no expensive frames).
fn class_pps_and_p99(class: Option<&ClassMeasured>) -> [String; 2] {
    match class {
        Some(class) if class.frames == 0 => [pps(0.0), MISSING.into()],
        Some(class) => [pps(class.pps), time(class.latency.p99)],
        None => [MISSING.into(), MISSING.into()],
    }
}

fn throughput_and_p99(measured: Option<&Measured>) -> [String; 2] {
    match measured {
        Some(measured) => [delivered(measured), time(measured.latency.p99)],
        None => [MISSING.into(), MISSING.into()],
    }
}

fn chain_cost(out: &mut String, costs: &[ChainCost]) {
    out.push_str("## Chain cost\n\n");
    if costs.is_empty() {
        out.push_str(NOT_MEASURED);
        return;
    }
    out.push_str("Per packet under BPF_PROG_TEST_RUN: Galette's chain (one fused program, every NF inlined; and with every NF a BPF-to-BPF call instead) against one hand-written program doing the same work.\n\n");
    let mut costs: Vec<&ChainCost> = costs.iter().collect();
    costs.sort_by_key(|cost| cost.nfs);
    let rows = costs
        .iter()
        .map(|cost| {
            let times = quotient(cost.galette_ns, cost.handwritten_ns).map_or_else(|| MISSING.into(), ratio);
            let calls = cost.galette_calls_ns.map_or_else(|| MISSING.into(), |ns| fixed(ns, 1));
            vec![cost.nfs.to_string(), fixed(cost.galette_ns, 1), calls, fixed(cost.handwritten_ns, 1), times]
        })
        .collect();
    table(
        out,
        &[
            "NFs",
            "Galette, inlined (ns/pkt)",
            "Galette, calls (ns/pkt)",
            "Hand-written (ns/pkt)",
            "Inlined / hand-written",
        ],
        rows,
    );
}

fn conntrack(out: &mut String, conntrack: Option<&Conntrack>) {
    out.push_str("## Conntrack\n\n");
    let Some(conntrack) = conntrack.filter(|c| !c.gateways.is_empty() || !c.costs.is_empty()) else {
        out.push_str(NOT_MEASURED);
        return;
    };
    let _ = write!(out, "{}\n\n", text(&conntrack.setup));
    if !conntrack.gateways.is_empty() {
        out.push_str("### TCP throughput, client (LAN) to server (WAN)\n\n");
        let nftables = conntrack.gateways.iter().find(|g| g.gateway == crate::results::Gateway::NftablesBridge);
        let rows = conntrack
            .gateways
            .iter()
            .map(|gateway| {
                let against = nftables
                    .and_then(|nft| quotient(gateway.median_mbps, nft.median_mbps))
                    .map_or_else(|| MISSING.into(), ratio);
                let runs: Vec<String> = gateway.runs.iter().map(|run| fixed(run.mbps, 0)).collect();
                let retransmits: u64 = gateway.runs.iter().map(|run| run.retransmits).sum();
                let dropped = match gateway.unsolicited_syn_dropped {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => MISSING,
                };
                vec![
                    gateway.gateway.label().to_owned(),
                    fixed(gateway.median_mbps, 0),
                    against,
                    runs.join(", "),
                    retransmits.to_string(),
                    dropped.to_owned(),
                ]
            })
            .collect();
        table(
            out,
            &[
                "Gateway",
                "Median (Mbit/s)",
                "/ nftables-bridge",
                "Runs (Mbit/s, in order)",
                "Retransmits",
                "Unsolicited SYN dropped",
            ],
            rows,
        );
    }
    if !conntrack.costs.is_empty() {
        out.push_str("### Per packet under BPF_PROG_TEST_RUN\n\n");
        out.push_str("The two-port chain with the conntrack NF, against the same chain with `std.nop` in its place, on the same frame; every exit `tx` or `drop`.\n\n");
        let rows = conntrack
            .costs
            .iter()
            .map(|cost| {
                vec![cost.case.clone(), fixed(cost.ns, 1), fixed(cost.nop_ns, 1), fixed(cost.ns - cost.nop_ns, 1)]
            })
            .collect();
        table(out, &["Case", "Chain (ns/pkt)", "std.nop chain (ns/pkt)", "The NF (ns/pkt)"], rows);
    }
}

fn compiler(out: &mut String, timings: &[CompilerTiming]) {
    out.push_str("## Compiler\n\n");
    if timings.is_empty() {
        out.push_str(NOT_MEASURED);
        return;
    }
    let rows = timings
        .iter()
        .map(|timing| vec![timing.what.clone(), time(timing.median_ms), timing.runs.to_string()])
        .collect();
    table(out, &["What", "Median (ms)", "Runs"], rows);
}

fn fleet(out: &mut String, runs: &[FleetScale]) {
    out.push_str("## Fleet\n\n");
    if runs.is_empty() {
        out.push_str(NOT_MEASURED);
        return;
    }
    out.push_str(
        "One `galette-ctl publish` of a new bundle to a group of real `galette agent` processes on this machine \
         (each its own device certificate, `--no-data-plane`: they verify the signed state, pull the bundle from \
         a local docker-registry and report; they run no chain), through one local Mosquitto. Time: from just \
         before the publish to each agent's report of the new bundle, as the admin's subscriber got it. CPU: \
         user and system time the update cost. Absolute numbers on this machine; nothing here is compared.\n\n",
    );
    let rows = runs
        .iter()
        .map(|run| {
            vec![
                run.agents.to_string(),
                time(run.p50_ms),
                time(run.p99_ms),
                time(run.max_ms),
                time(run.agent_cpu_ms),
                format!("{:.0} / {:.0}", run.agent_rss_kib_mean, run.agent_rss_kib_max),
                time(run.broker_cpu_ms_per_agent),
                format!("{:.0}", run.broker_rss_kib_per_agent),
                time(run.registry_cpu_ms_per_agent),
            ]
        })
        .collect();
    table(
        out,
        &[
            "Agents",
            "p50 (ms)",
            "p99 (ms)",
            "Max (ms)",
            "CPU per agent (ms)",
            "RSS per agent, mean / max (KiB)",
            "Broker CPU per agent (ms)",
            "Broker RSS per agent (KiB)",
            "Registry CPU per agent (ms)",
        ],
        rows,
    );
}

fn reload(out: &mut String, runs: &[ReloadRun]) {
    out.push_str("## Live reload\n\n");
    let Some(first) = runs.first() else {
        out.push_str(NOT_MEASURED);
        return;
    };
    let _ = write!(
        out,
        "`galette reload` again and again, alternating between two chains that mark frames differently, while \
         the generator offers {} B frames at a fixed rate; against the same rate without reloads just before, in \
         the same `galette run`. Switch: the runtime's own time, from the start of the reload to the last link \
         switched; command: `galette reload`'s wall time, from its start to its exit. Times in ms.\n\n",
        first.frame_bytes
    );
    let mut tiers = Vec::new();
    for run in runs {
        if !tiers.contains(&run.tier) {
            tiers.push(run.tier);
            let _ = writeln!(out, "- {}: {}", run.tier.label(), text(&run.chains.join(" ↔ ")));
        }
    }
    out.push('\n');
    let rows = runs
        .iter()
        .map(|run| {
            let (switch, command) = (run.switch_ms(), run.command_ms());
            vec![
                run.label(),
                run.reloads.len().to_string(),
                time(percentile(&switch, 50.0)),
                time(percentile(&switch, 99.0)),
                time(percentile(&command, 50.0)),
                time(percentile(&command, 99.0)),
            ]
        })
        .collect();
    table(out, &["Chain", "Reloads", "Switch p50", "Switch p99", "Command p50", "Command p99"], rows);
    let _ = write!(
        out,
        "Delivered per {} ms bucket: for the phase with reloads, over the buckets a `galette reload` command \
         overlaps; in both, without the buckets where the generator sent less than half the rate asked for (left \
         out: it pauses for tens of ms between two of its test-run calls, once a second, and slows down when the \
         machine is busy). p1: the 1st percentile of the buckets. Lowest share: the least of a bucket's sent frames \
         that came back in it. Lost: over the whole phase; other marks: frames that came back marked by neither \
         chain.\n\n",
        short(first.bucket_seconds() * 1000.0)
    );
    let mut rows = Vec::new();
    for run in runs {
        let reloads = format!("with {} reloads", run.reloads.len());
        let phases =
            [("without reloads", &run.steady, run.steady_buckets()), (&*reloads, &run.reloading, run.reload_buckets())];
        for (name, phase, buckets) in phases {
            rows.push(phase_row(run, name, phase, &buckets));
        }
    }
    table(
        out,
        &[
            "Chain",
            "Phase",
            "Offered",
            "Sent",
            "Lost",
            "Other marks",
            "Buckets",
            "Left out",
            "Delivered, mean",
            "p1",
            "Lowest",
            "Lowest share",
        ],
        rows,
    );
}

fn phase_row(run: &ReloadRun, name: &str, phase: &ReloadPhase, buckets: &BucketSummary) -> Vec<String> {
    vec![
        run.label(),
        name.to_string(),
        pps(phase.sent as f64 / (phase.sending_ns as f64 / 1e9)),
        phase.sent.to_string(),
        phase.lost().to_string(),
        phase.unmarked(&run.marks).to_string(),
        buckets.buckets.to_string(),
        buckets.left_out.to_string(),
        pps(buckets.mean_pps),
        pps(buckets.p1_pps),
        pps(buckets.min_pps),
        percent(buckets.lowest_share),
    ]
}

fn plot_links(out: &mut String, results: &Results) {
    let plots = plots(results);
    if plots.is_empty() {
        return;
    }
    out.push_str("## Plots\n\n");
    for plot in plots {
        let _ = write!(out, "![{}]({})\n\n", text(&plot.title), plot.file_name);
    }
}

/// A Markdown table, names in the first column left-aligned, numbers in the
/// others right-aligned.
fn table(out: &mut String, header: &[&str], rows: Vec<Vec<String>>) {
    let row =
        |cells: Vec<String>| format!("| {} |\n", cells.iter().map(|value| cell(value)).collect::<Vec<_>>().join(" | "));
    out.push_str(&row(header.iter().map(|title| title.to_string()).collect()));
    let rule: Vec<&str> = (0..header.len()).map(|column| if column == 0 { ":---" } else { "---:" }).collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for cells in rows {
        out.push_str(&row(cells));
    }
    out.push('\n');
}

/// `value` made safe inside a table cell: a `|` would end the cell.
fn cell(value: &str) -> String {
    text(value).replace('|', "\\|")
}

/// Free text (machine names, descriptions) made safe for Markdown: one
/// line, no raw HTML, and empty shown as unknown.
fn text(value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        return "unknown".into();
    }
    value.replace(['\n', '\r'], " ").replace('<', "&lt;")
}

//! The report's plots, each a standalone SVG file: latency and throughput
//! per frame size, the expensive-NF experiment, and the chain cost. A plot
//! with no data is not made.

use crate::numbers::{PpsUnit, finite, share, short};
use crate::results::{
    ChainCost, Dut, ExpensivePlacement, ExpensivePoint, ForwardingPoint, Measured, ReloadPhase, ReloadRun, Results,
};
use crate::select;
use crate::svg::{Axis, BoxPlace, Chart, Marker, Spread, Style};

/// One plot: the file it is written to, what it shows, and the SVG.
#[derive(Debug, Clone)]
pub struct Plot {
    /// E.g. `latency-64B.svg`.
    pub file_name: String,
    pub title: String,
    pub svg: String,
}

/// Every plot `results` has data for.
pub fn plots(results: &Results) -> Vec<Plot> {
    // Taken once over all sizes, so a device keeps its colour in every plot.
    let duts = select::duts(&results.forwarding);
    let mut plots = Vec::new();
    for frame_bytes in select::frame_sizes(&results.forwarding) {
        plots.push(latency(&results.forwarding, &duts, frame_bytes));
        plots.push(throughput(&results.forwarding, &duts, frame_bytes));
    }
    plots.extend(expensive_by_share(&results.expensive, ByShare::Throughput));
    plots.extend(expensive_by_share(&results.expensive, ByShare::P99));
    plots.extend(expensive_classes_p99(&results.expensive));
    plots.extend(expensive_workers(&results.expensive));
    plots.extend(chain_cost(&results.chain_cost));
    plots.extend(results.reload.iter().map(reload_timeline));
    plots
}

fn plot(file_name: String, chart: &Chart, title: String) -> Plot {
    Plot { file_name, svg: chart.render(), title }
}

/// The largest finite value, or zero.
fn largest(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().filter_map(finite).fold(0.0, f64::max)
}

/// Latency box plots, a group of boxes (one per device) per offered rate.
fn latency(points: &[ForwardingPoint], duts: &[Dut], frame_bytes: u32) -> Plot {
    let at_size: Vec<&ForwardingPoint> = points.iter().filter(|point| point.frame_bytes == frame_bytes).collect();
    // A rate that is not a number has no place on the axis; its points are
    // left out.
    let mut targets: Vec<Option<f64>> =
        at_size.iter().map(|point| point.target_pps).filter(|target| target.is_none_or(f64::is_finite)).collect();
    targets.sort_by(|a, b| select::by_target(*a, *b));
    targets.dedup();
    let unit = PpsUnit::for_largest(largest(targets.iter().flatten().copied()));
    let labels = targets
        .iter()
        .map(|target| target.map_or_else(|| "max".to_string(), |rate| short(rate / unit.divisor)))
        .collect();
    let latencies = at_size.iter().flat_map(|point| {
        let latency = &point.measured.latency;
        [latency.p1, latency.p25, latency.p50, latency.p75, latency.p99]
    });
    let title = format!("Latency, {frame_bytes} B frames");
    let mut chart = Chart::new(&title, Axis::Categories(labels), Axis::log10(latencies))
        .with_labels(
            &format!("offered rate ({}; max: as fast as the generator goes)", unit.name),
            "latency (µs, log scale)",
        )
        .with_note("box: p25 to p75, thick line: median, whiskers: p1 to p99");
    let present: Vec<(usize, &Dut)> =
        duts.iter().enumerate().filter(|(_, dut)| at_size.iter().any(|point| point.dut == **dut)).collect();
    for (slot, &(color, dut)) in present.iter().enumerate() {
        let style = Style::series(color);
        chart.swatch(&dut.label(), style);
        let mut drawn: Vec<usize> = Vec::new();
        for point in select::points_of(points, dut, frame_bytes) {
            // A repeated rate would land on the same spot: the first is shown.
            let Some(category) = targets
                .iter()
                .position(|target| *target == point.target_pps)
                .filter(|category| !drawn.contains(category))
            else {
                continue;
            };
            drawn.push(category);
            let latency = &point.measured.latency;
            let spread =
                Spread { low: latency.p1, q1: latency.p25, median: latency.p50, q3: latency.p75, high: latency.p99 };
            chart.box_plot(BoxPlace { category, slot, slots: present.len() }, style, spread);
        }
    }
    plot(format!("latency-{frame_bytes}B.svg"), &chart, title)
}

/// Delivered against offered rate, one line per device, and the line where
/// every offered frame comes back.
fn throughput(points: &[ForwardingPoint], duts: &[Dut], frame_bytes: u32) -> Plot {
    let at_size: Vec<&ForwardingPoint> = points.iter().filter(|point| point.frame_bytes == frame_bytes).collect();
    let unit = PpsUnit::for_largest(largest(
        at_size.iter().flat_map(|point| [point.measured.offered_pps, point.measured.pps]),
    ));
    // One range for both axes, so that offered = delivered is the diagonal.
    let axis = Axis::linear(
        at_size.iter().flat_map(|point| [point.measured.offered_pps / unit.divisor, point.measured.pps / unit.divisor]),
        true,
    );
    let title = format!("Throughput, {frame_bytes} B frames");
    let mut chart = Chart::new(&title, axis.clone(), axis.clone())
        .with_labels(&format!("offered ({})", unit.name), &format!("delivered ({})", unit.name));
    if let Some((min, max)) = axis.range() {
        chart.line("offered = delivered", Style::reference(), &[(min, min), (max, max)]);
    }
    for (color, dut) in duts.iter().enumerate() {
        let mut mine: Vec<&ForwardingPoint> = at_size.iter().copied().filter(|point| point.dut == *dut).collect();
        if mine.is_empty() {
            continue;
        }
        mine.sort_by(|a, b| a.measured.offered_pps.total_cmp(&b.measured.offered_pps));
        let line: Vec<(f64, f64)> = mine
            .iter()
            .map(|point| (point.measured.offered_pps / unit.divisor, point.measured.pps / unit.divisor))
            .collect();
        chart.line(&dut.label(), Style::series(color), &line);
    }
    plot(format!("throughput-{frame_bytes}B.svg"), &chart, title)
}

/// What an expensive-NF plot over the share P shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByShare {
    Throughput,
    P99,
}

/// A line per placement and worker count, over the shares P as categories
/// (they run from 0 to 1 and are not evenly spread, so neither a linear nor
/// a log scale would show them all).
fn expensive_by_share(points: &[ExpensivePoint], shown: ByShare) -> Option<Plot> {
    let shares = select::shares(points);
    if shares.is_empty() {
        return None;
    }
    let labels = shares.iter().map(|&value| share(value)).collect();
    let unit = PpsUnit::for_largest(largest(points.iter().map(|point| point.measured.pps)));
    let value = |measured: &Measured| match shown {
        ByShare::Throughput => measured.pps / unit.divisor,
        ByShare::P99 => measured.latency.p99,
    };
    let (title, file_name, y, y_label) = match shown {
        ByShare::Throughput => (
            "Expensive NF: throughput vs share P",
            "expensive-share.svg",
            Axis::linear(points.iter().map(|point| value(&point.measured)), true),
            format!("delivered ({})", unit.name),
        ),
        ByShare::P99 => (
            "Expensive NF: p99 latency vs share P",
            "expensive-p99.svg",
            Axis::log10(points.iter().map(|point| value(&point.measured))),
            "p99 latency (µs, log scale)".to_string(),
        ),
    };
    let mut chart = Chart::new(title, Axis::Categories(labels), y)
        .with_labels("share P of packets that need the expensive NF", &y_label)
        .with_note(&expensive_note(points));
    for (color, (placement, workers)) in expensive_series(points).into_iter().enumerate() {
        let line: Vec<(f64, f64)> = shares
            .iter()
            .enumerate()
            .filter_map(|(index, &share)| {
                Some((index as f64, value(&select::expensive_point(points, placement, workers, share)?.measured)))
            })
            .collect();
        chart.line(&expensive_label(placement, workers), Style::series(color), &line);
    }
    Some(plot(file_name.into(), &chart, title.into()))
}

/// The p99 latency of the normal and the expensive traffic apart over the
/// shares P, for XDP and one userland worker (labelled `userland`): a colour per placement, the
/// expensive class dashed. A class with no frame back at a share (none are
/// expensive at P = 0) has no point there.
fn expensive_classes_p99(points: &[ExpensivePoint]) -> Option<Plot> {
    let classes_at = |placement, share| {
        select::expensive_point(points, placement, 1, share).and_then(|point| point.classes.as_ref())
    };
    let shares = select::shares(points);
    let placements = [ExpensivePlacement::Xdp, ExpensivePlacement::Userland];
    if !shares.iter().any(|&share| placements.iter().any(|&placement| classes_at(placement, share).is_some())) {
        return None;
    }
    let labels = shares.iter().map(|&value| share(value)).collect();
    let p99s = points
        .iter()
        .filter_map(|point| point.classes.as_ref())
        .flat_map(|classes| [&classes.normal, &classes.expensive])
        .filter(|class| class.frames > 0)
        .map(|class| class.latency.p99);
    let title = "Expensive NF: p99 latency of each class vs share P";
    let mut chart = Chart::new(title, Axis::Categories(labels), Axis::log10(p99s))
        .with_labels("share P of packets that need the expensive NF", "p99 latency (µs, log scale)")
        .with_note(&expensive_note(points));
    for (color, placement) in placements.into_iter().enumerate() {
        for (expensive, name) in [(false, "normal"), (true, "expensive")] {
            let line: Vec<(f64, f64)> = shares
                .iter()
                .enumerate()
                .filter_map(|(index, &share)| {
                    let classes = classes_at(placement, share)?;
                    let class = if expensive { &classes.expensive } else { &classes.normal };
                    (class.frames > 0).then_some((index as f64, class.latency.p99))
                })
                .collect();
            let style = Style { dashed: expensive, ..Style::series(color) };
            // Short: the legend has room for about 20 characters (one
            // worker, as the title of the Markdown table says).
            let place = if placement == ExpensivePlacement::Xdp { "XDP" } else { "userland" };
            chart.line(&format!("{place}: {name}"), style, &line);
        }
    }
    Some(plot("expensive-classes-p99.svg".into(), &chart, title.into()))
}

/// Throughput against userland workers at each share P where the run
/// varied them, with XDP at that share as a flat reference.
fn expensive_workers(points: &[ExpensivePoint]) -> Option<Plot> {
    let scaling = select::scaling_shares(points);
    if scaling.is_empty() {
        return None;
    }
    let workers = select::userland_workers(
        points.iter().filter(|point| scaling.iter().any(|&share| select::same_share(point.share, share))),
    );
    let unit = PpsUnit::for_largest(largest(points.iter().map(|point| point.measured.pps)));
    let x = Axis::Categories(workers.iter().map(u32::to_string).collect());
    let y = Axis::linear(points.iter().map(|point| point.measured.pps / unit.divisor), true);
    let title = "Expensive NF: throughput vs userland workers";
    let mut chart = Chart::new(title, x, y)
        .with_labels("userland workers", &format!("delivered ({})", unit.name))
        .with_note(&expensive_note(points));
    for (color, &share_p) in scaling.iter().enumerate() {
        let style = Style::series(color);
        let line: Vec<(f64, f64)> = workers
            .iter()
            .enumerate()
            .filter_map(|(index, &count)| {
                Some((
                    index as f64,
                    select::expensive_point(points, ExpensivePlacement::Userland, count, share_p)?.measured.pps
                        / unit.divisor,
                ))
            })
            .collect();
        chart.line(&format!("userland, P={}", share(share_p)), style, &line);
        if let Some(xdp) = points
            .iter()
            .find(|point| point.placement == ExpensivePlacement::Xdp && select::same_share(point.share, share_p))
        {
            let level = xdp.measured.pps / unit.divisor;
            let last = workers.len().saturating_sub(1) as f64;
            chart.line(
                &format!("XDP, P={}", share(share_p)),
                Style { dashed: true, ..style },
                &[(0.0, level), (last, level)],
            );
        }
    }
    Some(plot("expensive-workers.svg".into(), &chart, title.into()))
}

/// The (placement, workers) pairs in `points`: XDP first, then userland by
/// worker count.
fn expensive_series(points: &[ExpensivePoint]) -> Vec<(ExpensivePlacement, u32)> {
    let mut series: Vec<(ExpensivePlacement, u32)> = Vec::new();
    for placement in [ExpensivePlacement::Xdp, ExpensivePlacement::Userland] {
        let mut workers: Vec<u32> =
            points.iter().filter(|point| point.placement == placement).map(|point| point.workers).collect();
        workers.sort_unstable();
        workers.dedup();
        series.extend(workers.into_iter().map(|count| (placement, count)));
    }
    series
}

/// `XDP`, `userland, 1 worker`, `userland, 4 workers`.
pub fn expensive_label(placement: ExpensivePlacement, workers: u32) -> String {
    let noun = if workers == 1 { "worker" } else { "workers" };
    match placement {
        ExpensivePlacement::Xdp if workers == 1 => "XDP".into(),
        ExpensivePlacement::Xdp => format!("XDP, {workers} {noun}"),
        ExpensivePlacement::Userland => format!("userland, {workers} {noun}"),
    }
}

/// The experiment's setting, from its first point (the run uses one).
fn expensive_note(points: &[ExpensivePoint]) -> String {
    points.first().map_or_else(String::new, |point| {
        format!("{} operations per expensive packet, {} B frames", point.operations, point.frame_bytes)
    })
}

/// Nanoseconds per packet against chain length, Galette and hand-written.
fn chain_cost(costs: &[ChainCost]) -> Option<Plot> {
    if costs.is_empty() {
        return None;
    }
    let mut costs: Vec<&ChainCost> = costs.iter().collect();
    costs.sort_by_key(|cost| cost.nfs);
    let x = Axis::linear(costs.iter().map(|cost| f64::from(cost.nfs)), true);
    let y = Axis::linear(
        costs.iter().flat_map(|cost| [cost.galette_ns, cost.handwritten_ns].into_iter().chain(cost.galette_calls_ns)),
        true,
    );
    let title = "Chain cost under BPF_PROG_TEST_RUN";
    let mut chart = Chart::new(title, x, y).with_labels("NFs in the chain", "ns per packet");
    let galette: Vec<(f64, f64)> = costs.iter().map(|cost| (f64::from(cost.nfs), cost.galette_ns)).collect();
    let handwritten: Vec<(f64, f64)> = costs.iter().map(|cost| (f64::from(cost.nfs), cost.handwritten_ns)).collect();
    let calls: Vec<(f64, f64)> =
        costs.iter().filter_map(|cost| Some((f64::from(cost.nfs), cost.galette_calls_ns?))).collect();
    chart.line("galette (fused, inlined)", Style::series(0), &galette);
    if !calls.is_empty() {
        chart.line("galette (fused, BPF-to-BPF calls)", Style::series(2), &calls);
    }
    chart.line("hand-written", Style::series(1), &handwritten);
    Some(plot("chain-cost.svg".into(), &chart, title.into()))
}

/// The delivered rate per timeline bucket over time, with and without
/// reloads, against the rate asked for.
fn reload_timeline(run: &ReloadRun) -> Plot {
    let seconds = run.bucket_seconds();
    let unit = PpsUnit::for_largest(run.target_pps);
    // Where the generator sent under half the rate (see
    // `BucketSummary::left_out`), the line breaks: a NaN cannot be placed.
    let half = run.target_pps * seconds / 2.0;
    let rates = |phase: &ReloadPhase| -> Vec<(f64, f64)> {
        phase
            .received_per_bucket
            .iter()
            .zip(&phase.sent_per_bucket)
            .enumerate()
            .map(|(bucket, (&received, &sent))| {
                let rate = if (sent as f64) < half { f64::NAN } else { received as f64 / seconds / unit.divisor };
                (bucket as f64 * seconds, rate)
            })
            .collect()
    };
    let (steady, reloading) = (rates(&run.steady), rates(&run.reloading));
    let x = Axis::linear(steady.iter().chain(&reloading).map(|&(time, _)| time), true);
    let target = run.target_pps / unit.divisor;
    let y = Axis::linear(steady.iter().chain(&reloading).map(|&(_, rate)| rate).chain([target]), true);
    let title = format!("Live reload, {}: delivered per bucket", run.label());
    let mut chart = Chart::new(&title, x.clone(), y)
        .with_labels("time since the phase started (s)", &format!("delivered ({})", unit.name))
        .with_note(&format!(
            "{} ms buckets, {} B frames; gaps: the generator sent under half the rate (it pauses between calls)",
            short(seconds * 1000.0),
            run.frame_bytes
        ));
    if let Some((min, max)) = x.range() {
        chart.line("asked for", Style::reference(), &[(min, target), (max, target)]);
    }
    let plain = |index| Style { marker: Marker::Nothing, ..Style::series(index) };
    chart.line("without reloads", plain(0), &steady);
    chart.line(&format!("with {} reloads", run.reloads.len()), plain(1), &reloading);
    plot(run.plot_file(), &chart, title)
}

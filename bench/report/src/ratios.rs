//! One-line comparisons of Galette with its baselines: what the bench prints
//! after each run, and the Markdown's "Ratios" section. A comparison whose
//! numbers are missing, not finite or divide by zero is left out.

use crate::numbers::{fixed, percent, pps, pps_pair, quotient, ratio, share};
use crate::results::{ChainCost, Dut, DutCost, ExpensivePlacement, ExpensivePoint, ForwardingPoint, Results};
use crate::select;

/// Every comparison `results` has the numbers for, e.g. `64 B: galette-xdp
/// forwards 0.97× aya-xdp (2.910 vs 3.000 Mpps), 10.2× af-packet (2.910 vs
/// 0.285 Mpps)`.
pub fn ratios(results: &Results) -> Vec<String> {
    let mut lines = forwarding(&results.forwarding);
    lines.extend(expensive(&results.expensive));
    lines.extend(chain_cost(&results.chain_cost));
    lines.extend(dut_cost(&results.dut_cost));
    lines
}

/// Each Galette device against the baselines it competes with, at its peak
/// and theirs, per frame size.
fn forwarding(points: &[ForwardingPoint]) -> Vec<String> {
    let mut lines = Vec::new();
    for frame_bytes in select::frame_sizes(points) {
        for dut in select::duts(points) {
            // XDP competes with both baselines; AF_XDP, being userland,
            // with the userland one.
            let baselines: &[Dut] = match dut {
                Dut::GaletteXdp => &[Dut::AyaXdp, Dut::AfPacket],
                Dut::GaletteAfXdp { .. } => &[Dut::AfPacket],
                Dut::AyaXdp | Dut::AfPacket => continue,
            };
            let Some(galette) = select::peak(points, &dut, frame_bytes) else { continue };
            let comparisons: Vec<String> = baselines
                .iter()
                .filter_map(|baseline| {
                    select::peak(points, baseline, frame_bytes).and_then(|theirs| versus(galette, theirs))
                })
                .collect();
            if !comparisons.is_empty() {
                lines.push(format!("{frame_bytes} B: {} forwards {}", dut.label(), comparisons.join(", ")));
            }
        }
    }
    lines
}

/// `0.97× aya-xdp (2.910 vs 3.000 Mpps)`. A side the generator held back
/// could have gone faster, which makes the ratio a bound.
fn versus(galette: &ForwardingPoint, baseline: &ForwardingPoint) -> Option<String> {
    let (mine, theirs) = (&galette.measured, &baseline.measured);
    let times = ratio(quotient(mine.pps, theirs.pps)?);
    let (bound, note) = match (mine.generator_bound, theirs.generator_bound) {
        (true, false) => ("≥ ", ""),
        (false, true) => ("≤ ", ""),
        (true, true) => ("", ", both at the generator's ceiling"),
        (false, false) => ("", ""),
    };
    Some(format!("{bound}{times} {} ({}{note})", baseline.dut.label(), pps_pair(mine.pps, theirs.pps)))
}

/// Userland against XDP at each share P (one worker each), and more
/// userland workers against one where the run varied them.
fn expensive(points: &[ExpensivePoint]) -> Vec<String> {
    let mut lines = Vec::new();
    for share_p in select::shares(points) {
        let at = |placement, workers| select::expensive_point(points, placement, workers, share_p);
        let single = at(ExpensivePlacement::Userland, 1);
        if let (Some(userland), Some(xdp)) = (single, at(ExpensivePlacement::Xdp, 1))
            && let Some(times) = quotient(userland.measured.pps, xdp.measured.pps)
        {
            lines.push(format!(
                "expensive NF, P={}: userland {} the throughput of XDP ({})",
                share(share_p),
                ratio(times),
                pps_pair(userland.measured.pps, xdp.measured.pps)
            ));
        }
        let Some(single) = single else { continue };
        let at_share = points.iter().filter(|point| select::same_share(point.share, share_p));
        for workers in select::userland_workers(at_share).into_iter().filter(|&workers| workers > 1) {
            let Some(more) = at(ExpensivePlacement::Userland, workers) else { continue };
            let Some(times) = quotient(more.measured.pps, single.measured.pps) else { continue };
            lines.push(format!(
                "expensive NF, P={}: {workers} userland workers {} the throughput of one ({})",
                share(share_p),
                ratio(times),
                pps_pair(more.measured.pps, single.measured.pps)
            ));
        }
    }
    lines
}

/// Galette's chain against the hand-written program, per chain length.
fn chain_cost(costs: &[ChainCost]) -> Vec<String> {
    let mut costs: Vec<&ChainCost> = costs.iter().collect();
    costs.sort_by_key(|cost| cost.nfs);
    costs
        .into_iter()
        .filter_map(|cost| {
            let times = quotient(cost.galette_ns, cost.handwritten_ns)?;
            let noun = if cost.nfs == 1 { "NF" } else { "NFs" };
            Some(format!(
                "chain of {} {noun}: {} the hand-written program's cost ({} vs {} ns/pkt)",
                cost.nfs,
                ratio(times),
                fixed(cost.galette_ns, 1),
                fixed(cost.handwritten_ns, 1)
            ))
        })
        .collect()
}

/// Two measured rates count as the same offered rate within this share.
const SAME_RATE: f64 = 0.05;
/// A point that lost more than this share of its frames did not sustain the
/// rate: its cost per packet is not that of forwarding them all.
const SUSTAINED_LOSS: f64 = 0.01;

/// galette-xdp's per-packet cost against aya-xdp's, per frame size and
/// offered rate: a result only when both were offered the same rate (within
/// 5 %) and lost (almost) nothing; otherwise a line saying why not.
fn dut_cost(costs: &[DutCost]) -> Vec<String> {
    let mut lines = Vec::new();
    for galette in costs.iter().filter(|cost| cost.dut == Dut::GaletteXdp) {
        let Some(aya) = costs.iter().find(|cost| {
            cost.dut == Dut::AyaXdp
                && cost.frame_bytes == galette.frame_bytes
                && select::same_share(cost.target_pps, galette.target_pps)
        }) else {
            continue;
        };
        let head = format!("per-packet cost, {} B at {}", galette.frame_bytes, pps(galette.target_pps));
        if let Some(reason) = not_comparable(galette, aya) {
            lines.push(format!("{head}: not compared, {reason}"));
            continue;
        }
        let (Some(xdp), Some(softirq)) = (
            quotient(galette.xdp_ns_per_packet(), aya.xdp_ns_per_packet()),
            quotient(galette.softirq_ns_per_packet(), aya.softirq_ns_per_packet()),
        ) else {
            continue;
        };
        lines.push(format!(
            "{head}: galette-xdp costs {} aya-xdp in eBPF ({} vs {} ns/pkt), {} in softirq ({} vs {} ns/pkt)",
            ratio(xdp),
            fixed(galette.xdp_ns_per_packet(), 1),
            fixed(aya.xdp_ns_per_packet(), 1),
            ratio(softirq),
            fixed(galette.softirq_ns_per_packet(), 0),
            fixed(aya.softirq_ns_per_packet(), 0),
        ));
    }
    lines
}

/// Why two cost points do not compare like with like, if they do not.
fn not_comparable(galette: &DutCost, aya: &DutCost) -> Option<String> {
    let (mine, theirs) = (galette.offered_pps(), aya.offered_pps());
    let same_rate = quotient(mine, theirs).is_some_and(|times| (times - 1.0).abs() <= SAME_RATE);
    if !same_rate {
        return Some(format!("offered different rates ({})", pps_pair(mine, theirs)));
    }
    for cost in [galette, aya] {
        let loss = cost.loss();
        // NaN (nothing sent) sustains nothing either.
        if loss.is_nan() || loss > SUSTAINED_LOSS {
            return Some(format!("{} lost {} of the frames", cost.dut.label(), percent(loss)));
        }
    }
    None
}

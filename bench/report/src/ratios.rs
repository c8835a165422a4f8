//! One-line comparisons of Galette with its baselines: what the bench prints
//! after each run, and the Markdown's "Ratios" section. A comparison whose
//! numbers are missing, not finite or divide by zero is left out; one whose
//! two sides were offered different rates (by more than 5 %) is no result,
//! and its line says "not compared" and what each side was offered.

use crate::numbers::{fixed, percent, pps, pps_pair, quotient, ratio, share};
use crate::results::{
    ChainCost, Conntrack, Dut, DutCost, ExpensivePlacement, ExpensivePoint, ForwardingPoint, Gateway, Results,
};
use crate::select;

/// Every comparison `results` has the numbers for, e.g. `64 B: galette-xdp
/// forwards 0.97× aya-xdp (2.910 vs 3.000 Mpps), 10.2× af-packet (2.910 vs
/// 0.285 Mpps)`.
pub fn ratios(results: &Results) -> Vec<String> {
    let mut lines = forwarding(&results.forwarding);
    lines.extend(expensive(&results.expensive));
    lines.extend(chain_cost(&results.chain_cost));
    lines.extend(dut_cost(&results.dut_cost));
    lines.extend(results.conntrack.as_ref().and_then(conntrack));
    lines
}

/// Galette's conntrack gateway against the nftables bridge: a result only
/// when both were measured and the ruleset really filtered (it dropped an
/// unsolicited SYN), otherwise a line saying why not.
fn conntrack(conntrack: &Conntrack) -> Option<String> {
    let find = |gateway| conntrack.gateways.iter().find(|g| g.gateway == gateway);
    let (galette, nftables) = (find(Gateway::GaletteConntrack)?, find(Gateway::NftablesBridge)?);
    let head = "conntrack gateway, TCP";
    for side in [galette, nftables] {
        if side.unsolicited_syn_dropped == Some(false) {
            return Some(format!(
                "{head}: not compared: {} let an unsolicited SYN from the WAN through",
                side.gateway.label()
            ));
        }
    }
    let times = quotient(galette.median_mbps, nftables.median_mbps)?;
    Some(format!(
        "{head}: {} moves {} the nftables bridge's throughput ({} vs {} Mbit/s, median of {} and {} runs)",
        galette.gateway.label(),
        ratio(times),
        fixed(galette.median_mbps, 0),
        fixed(nftables.median_mbps, 0),
        galette.runs.len(),
        nftables.runs.len()
    ))
}

/// Each Galette device against the baselines it competes with, per frame
/// size, at the same offered rate: a result line for the comparisons that
/// have one, and a line for each that does not, saying what was offered.
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
            let mut compared = Vec::new();
            let mut apart = Vec::new();
            for baseline in baselines {
                if let Some((galette, theirs)) = same_offered_pair(points, &dut, baseline, frame_bytes) {
                    compared.extend(versus(galette, theirs));
                } else if let (Some(galette), Some(theirs)) =
                    (select::peak(points, &dut, frame_bytes), select::peak(points, baseline, frame_bytes))
                {
                    apart.push(format!(
                        "{frame_bytes} B: {} not compared with {}: {}",
                        dut.label(),
                        baseline.label(),
                        offered_pair(galette.measured.offered_pps, theirs.measured.offered_pps)
                    ));
                }
            }
            if !compared.is_empty() {
                lines.push(format!("{frame_bytes} B: {} forwards {}", dut.label(), compared.join(", ")));
            }
            lines.extend(apart);
        }
    }
    lines
}

/// The points of `dut` and `baseline` to compare: run at the same target
/// rate (or both as fast as the generator goes) and offered the same rate
/// within [`SAME_RATE`]; of those, the pair offered most, which is their
/// peaks when the generator went as fast for both.
fn same_offered_pair<'a>(
    points: &'a [ForwardingPoint],
    dut: &Dut,
    baseline: &Dut,
    frame_bytes: u32,
) -> Option<(&'a ForwardingPoint, &'a ForwardingPoint)> {
    let theirs = select::points_of(points, baseline, frame_bytes);
    select::points_of(points, dut, frame_bytes)
        .into_iter()
        .flat_map(|mine| theirs.iter().map(move |their| (mine, *their)))
        .filter(|(mine, their)| {
            select::by_target(mine.target_pps, their.target_pps).is_eq()
                && same_rate(mine.measured.offered_pps, their.measured.offered_pps)
        })
        .max_by(|a, b| a.0.measured.offered_pps.total_cmp(&b.0.measured.offered_pps))
}

/// `0.97× aya-xdp (2.910 vs 3.000 Mpps, offered 3.100 vs 3.090 Mpps)`. A
/// side the generator held back could have gone faster, which makes the
/// ratio a bound.
fn versus(galette: &ForwardingPoint, baseline: &ForwardingPoint) -> Option<String> {
    let (mine, theirs) = (&galette.measured, &baseline.measured);
    let times = ratio(quotient(mine.pps, theirs.pps)?);
    let (bound, note) = match (mine.generator_bound, theirs.generator_bound) {
        (true, false) => ("≥ ", ""),
        (false, true) => ("≤ ", ""),
        (true, true) => ("", ", both at the generator's ceiling"),
        (false, false) => ("", ""),
    };
    Some(format!(
        "{bound}{times} {} ({}, {}{note})",
        baseline.dut.label(),
        pps_pair(mine.pps, theirs.pps),
        offered_pair(mine.offered_pps, theirs.offered_pps)
    ))
}

/// Two measured offered rates count as the same within this share.
const SAME_RATE: f64 = 0.05;

/// Whether two offered rates are the same within [`SAME_RATE`] (a rate
/// that is missing or zero is the same as none).
fn same_rate(mine: f64, theirs: f64) -> bool {
    quotient(mine, theirs).is_some_and(|times| (times - 1.0).abs() <= SAME_RATE)
}

/// `offered 3.100 vs 3.090 Mpps`.
fn offered_pair(mine: f64, theirs: f64) -> String {
    format!("offered {}", pps_pair(mine, theirs))
}

/// Userland against XDP at each share P (one worker each), and more
/// userland workers against one where the run varied them; each only when
/// both were offered the same rate, otherwise a line saying what was.
fn expensive(points: &[ExpensivePoint]) -> Vec<String> {
    let mut lines = Vec::new();
    for share_p in select::shares(points) {
        let at = |placement, workers| select::expensive_point(points, placement, workers, share_p);
        let head = format!("expensive NF, P={}", share(share_p));
        let single = at(ExpensivePlacement::Userland, 1);
        if let (Some(userland), Some(xdp)) = (single, at(ExpensivePlacement::Xdp, 1)) {
            let (mine, theirs) = (&userland.measured, &xdp.measured);
            if !same_rate(mine.offered_pps, theirs.offered_pps) {
                lines.push(format!(
                    "{head}: userland not compared with XDP: {}",
                    offered_pair(mine.offered_pps, theirs.offered_pps)
                ));
            } else if let Some(times) = quotient(mine.pps, theirs.pps) {
                lines.push(format!(
                    "{head}: userland {} the throughput of XDP ({})",
                    ratio(times),
                    pps_pair(mine.pps, theirs.pps)
                ));
            }
        }
        if share_p > 0.0 && share_p < 1.0 {
            lines.extend(normal_traffic_delivered(points, share_p, &head));
            lines.extend(normal_traffic_kept(points, share_p, &head));
        }
        let Some(single) = single else { continue };
        let at_share = points.iter().filter(|point| select::same_share(point.share, share_p));
        for workers in select::userland_workers(at_share).into_iter().filter(|&workers| workers > 1) {
            let Some(more) = at(ExpensivePlacement::Userland, workers) else { continue };
            let (mine, theirs) = (&more.measured, &single.measured);
            if !same_rate(mine.offered_pps, theirs.offered_pps) {
                lines.push(format!(
                    "{head}: {workers} userland workers not compared with one: {}",
                    offered_pair(mine.offered_pps, theirs.offered_pps)
                ));
                continue;
            }
            let Some(times) = quotient(mine.pps, theirs.pps) else { continue };
            lines.push(format!(
                "{head}: {workers} userland workers {} the throughput of one ({})",
                ratio(times),
                pps_pair(mine.pps, theirs.pps)
            ));
        }
    }
    lines
}

/// The share of the normal frames offered (about `1 - P` of all) that came
/// back, at one point; `None` without classes.
fn normal_delivered_share(point: &ExpensivePoint) -> Option<f64> {
    let normal = point.classes.as_ref()?.normal.pps;
    quotient(normal, (1.0 - point.share) * point.measured.offered_pps)
}

/// At `share_p`, the share of the normal traffic delivered with the NF
/// upcalled against with it in XDP (one worker), at the same offered rate.
fn normal_traffic_delivered(points: &[ExpensivePoint], share_p: f64, head: &str) -> Option<String> {
    let upcalled = select::expensive_point(points, ExpensivePlacement::Userland, 1, share_p)?;
    let in_xdp = select::expensive_point(points, ExpensivePlacement::Xdp, 1, share_p)?;
    let (mine, theirs) = (upcalled.measured.offered_pps, in_xdp.measured.offered_pps);
    if !same_rate(mine, theirs) {
        return None;
    }
    Some(format!(
        "{head}: the normal traffic delivered {} of what was offered with the NF upcalled, {} with it in XDP (offered {})",
        fixed(normal_delivered_share(upcalled)?, 2),
        fixed(normal_delivered_share(in_xdp)?, 2),
        pps_pair(mine, theirs)
    ))
}

/// What the normal traffic keeps at `share_p` of the throughput it had at
/// P = 0, for the NF upcalled and in XDP (one worker each): the share of
/// the normal frames offered (about `1 - P` of all) that came back, against
/// that share at P = 0. Only for points offered the same rate.
fn normal_traffic_kept(points: &[ExpensivePoint], share_p: f64, head: &str) -> Option<String> {
    let kept = |placement| -> Result<Option<f64>, String> {
        let (Some(point), Some(alone)) = (
            select::expensive_point(points, placement, 1, share_p),
            select::expensive_point(points, placement, 1, 0.0),
        ) else {
            return Ok(None);
        };
        if !same_rate(point.measured.offered_pps, alone.measured.offered_pps) {
            return Err(offered_pair(point.measured.offered_pps, alone.measured.offered_pps));
        }
        Ok(normal_delivered_share(point)
            .zip(normal_delivered_share(alone))
            .and_then(|(now, before)| quotient(now, before)))
    };
    match (kept(ExpensivePlacement::Userland), kept(ExpensivePlacement::Xdp)) {
        (Ok(Some(upcalled)), Ok(Some(in_xdp))) => Some(format!(
            "{head}: the normal traffic keeps {} of its P=0 throughput with the NF upcalled, {} with it in XDP",
            ratio(upcalled),
            ratio(in_xdp)
        )),
        (Err(offered), _) | (_, Err(offered)) => {
            Some(format!("{head}: the normal traffic's throughput not compared with P=0: {offered}"))
        }
        _ => None,
    }
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
            lines.push(format!("{head}: not compared: {reason}"));
            continue;
        }
        let (Some(xdp), Some(softirq)) = (
            quotient(galette.xdp_ns_per_packet(), aya.xdp_ns_per_packet()),
            quotient(galette.kernel_ns_per_packet(), aya.kernel_ns_per_packet()),
        ) else {
            continue;
        };
        lines.push(format!(
            "{head}: galette-xdp costs {} aya-xdp in eBPF ({} vs {} ns/pkt), {} in the kernel's receive processing ({} vs {} ns/pkt)",
            ratio(xdp),
            fixed(galette.xdp_ns_per_packet(), 1),
            fixed(aya.xdp_ns_per_packet(), 1),
            ratio(softirq),
            fixed(galette.kernel_ns_per_packet(), 0),
            fixed(aya.kernel_ns_per_packet(), 0),
        ));
    }
    lines
}

/// Why two cost points do not compare like with like, if they do not.
fn not_comparable(galette: &DutCost, aya: &DutCost) -> Option<String> {
    let (mine, theirs) = (galette.offered_pps(), aya.offered_pps());
    if !same_rate(mine, theirs) {
        return Some(offered_pair(mine, theirs));
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

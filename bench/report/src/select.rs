//! Which measurements stand for what: a device's peak, the shares and worker
//! counts the expensive-NF experiment ran with. Tables, ratio lines and
//! plots all pick through here, so they never disagree about which point
//! they show.

use std::cmp::Ordering;

use crate::numbers::finite;
use crate::results::{Dut, ExpensivePlacement, ExpensivePoint, ForwardingPoint};

/// Frame sizes in `points`, ascending, each once.
pub fn frame_sizes(points: &[ForwardingPoint]) -> Vec<u32> {
    let mut sizes: Vec<u32> = points.iter().map(|point| point.frame_bytes).collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// The devices in `points`, each once, in the order the run measured them:
/// a device keeps its place (and so its colour) in every table and plot.
pub fn duts(points: &[ForwardingPoint]) -> Vec<Dut> {
    let mut duts: Vec<Dut> = Vec::new();
    for point in points {
        if !duts.contains(&point.dut) {
            duts.push(point.dut.clone());
        }
    }
    duts
}

/// The points of one device at one frame size, by offered rate, the run as
/// fast as the generator goes last.
pub fn points_of<'a>(points: &'a [ForwardingPoint], dut: &Dut, frame_bytes: u32) -> Vec<&'a ForwardingPoint> {
    let mut chosen: Vec<&ForwardingPoint> =
        points.iter().filter(|point| point.dut == *dut && point.frame_bytes == frame_bytes).collect();
    chosen.sort_by(|a, b| by_target(a.target_pps, b.target_pps));
    chosen
}

/// Offered rates in order, `None` ("as fast as it goes") after every rate.
pub fn by_target(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// A device's peak at one frame size: its run as fast as the generator
/// goes, or when it had none, the point at which it delivered most.
pub fn peak<'a>(points: &'a [ForwardingPoint], dut: &Dut, frame_bytes: u32) -> Option<&'a ForwardingPoint> {
    let candidates = points_of(points, dut, frame_bytes);
    let saturated: Vec<&ForwardingPoint> =
        candidates.iter().copied().filter(|point| point.target_pps.is_none()).collect();
    let pool = if saturated.is_empty() { candidates } else { saturated };
    pool.into_iter().max_by(|a, b| rank(a.measured.pps).total_cmp(&rank(b.measured.pps)))
}

/// A value to rank by, a value that is not finite ranking below all others.
fn rank(value: f64) -> f64 {
    finite(value).unwrap_or(f64::NEG_INFINITY)
}

/// Whether two shares P are the same setting (they are written as decimals,
/// so compare them the way they were written).
pub fn same_share(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The shares P in `points`, ascending, each once; not finite ones left out.
pub fn shares(points: &[ExpensivePoint]) -> Vec<f64> {
    let mut shares: Vec<f64> = points.iter().map(|point| point.share).filter(|share| share.is_finite()).collect();
    shares.sort_by(f64::total_cmp);
    shares.dedup_by(|a, b| same_share(*a, *b));
    shares
}

/// The point of one placement, worker count and share, if the run has one.
pub fn expensive_point(
    points: &[ExpensivePoint],
    placement: ExpensivePlacement,
    workers: u32,
    share: f64,
) -> Option<&ExpensivePoint> {
    points
        .iter()
        .find(|point| point.placement == placement && point.workers == workers && same_share(point.share, share))
}

/// The userland worker counts in `points`, ascending, each once.
pub fn userland_workers<'a>(points: impl IntoIterator<Item = &'a ExpensivePoint>) -> Vec<u32> {
    let mut workers: Vec<u32> = points
        .into_iter()
        .filter(|point| point.placement == ExpensivePlacement::Userland)
        .map(|point| point.workers)
        .collect();
    workers.sort_unstable();
    workers.dedup();
    workers
}

/// The shares at which userland ran with more than one worker count: where
/// the run measured how userland scales.
pub fn scaling_shares(points: &[ExpensivePoint]) -> Vec<f64> {
    shares(points)
        .into_iter()
        .filter(|&share| userland_workers(points.iter().filter(|point| same_share(point.share, share))).len() > 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Measured;

    fn point(dut: Dut, target_pps: Option<f64>, pps: f64) -> ForwardingPoint {
        ForwardingPoint { dut, frame_bytes: 64, target_pps, measured: Measured { pps, ..Measured::default() } }
    }

    #[test]
    fn the_saturation_run_is_the_peak() {
        let points =
            [point(Dut::AyaXdp, Some(1e6), 1e6), point(Dut::AyaXdp, None, 0.9e6), point(Dut::AyaXdp, Some(2e6), 2e6)];
        assert_eq!(peak(&points, &Dut::AyaXdp, 64).map(|p| p.measured.pps), Some(0.9e6));
    }

    #[test]
    fn without_a_saturation_run_the_most_delivered_is_the_peak() {
        let points = [
            point(Dut::AyaXdp, Some(1e6), 1e6),
            point(Dut::AyaXdp, Some(3e6), f64::NAN),
            point(Dut::AyaXdp, Some(2e6), 1.5e6),
        ];
        assert_eq!(peak(&points, &Dut::AyaXdp, 64).map(|p| p.measured.pps), Some(1.5e6));
        assert!(peak(&points, &Dut::AfPacket, 64).is_none());
        assert!(peak(&points, &Dut::AyaXdp, 1518).is_none());
    }

    #[test]
    fn rates_sort_with_saturation_last() {
        let points =
            [point(Dut::AyaXdp, None, 0.0), point(Dut::AyaXdp, Some(2e6), 0.0), point(Dut::AyaXdp, Some(1e6), 0.0)];
        let targets: Vec<Option<f64>> = points_of(&points, &Dut::AyaXdp, 64).iter().map(|p| p.target_pps).collect();
        assert_eq!(targets, [Some(1e6), Some(2e6), None]);
    }
}

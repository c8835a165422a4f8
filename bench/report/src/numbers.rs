//! How numbers are shown to people: in tables, ratio lines and plot labels.
//! Every function takes any `f64` and shows one that is not finite as a
//! dash, so a broken measurement reads as missing, never as "NaN Mpps".

/// What a value that could not be measured is shown as.
pub const MISSING: &str = "–";

/// `value` if it can be shown or computed with.
pub fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// A unit for packet rates, picked once for a whole table cell pair or plot
/// axis so that the numbers side by side compare at a glance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpsUnit {
    pub name: &'static str,
    pub divisor: f64,
    decimals: usize,
}

impl PpsUnit {
    /// The unit that shows `largest` (packets per second) best.
    pub fn for_largest(largest: f64) -> PpsUnit {
        let largest = finite(largest).map_or(0.0, f64::abs);
        if largest >= 1e6 {
            PpsUnit { name: "Mpps", divisor: 1e6, decimals: 3 }
        } else if largest >= 1e3 {
            PpsUnit { name: "kpps", divisor: 1e3, decimals: 1 }
        } else {
            PpsUnit { name: "pps", divisor: 1.0, decimals: 0 }
        }
    }

    /// `value` in this unit, without the unit's name.
    pub fn number(self, value: f64) -> String {
        fixed(value / self.divisor, self.decimals)
    }
}

/// `2.910 Mpps`, `123.4 kpps`, `950 pps`.
pub fn pps(value: f64) -> String {
    if finite(value).is_none() {
        return MISSING.into();
    }
    let unit = PpsUnit::for_largest(value);
    format!("{} {}", unit.number(value), unit.name)
}

/// Two rates in one unit: `2.910 vs 3.000 Mpps`.
pub fn pps_pair(left: f64, right: f64) -> String {
    let largest = [left, right].into_iter().filter_map(finite).map(f64::abs).fold(0.0, f64::max);
    let unit = PpsUnit::for_largest(largest);
    format!("{} vs {} {}", unit.number(left), unit.number(right), unit.name)
}

/// `value` with `decimals` decimals.
pub fn fixed(value: f64, decimals: usize) -> String {
    match finite(value) {
        // Adding zero turns -0.0 into 0.0, which prints without a sign.
        Some(value) => format!("{:.decimals$}", value + 0.0),
        None => MISSING.into(),
    }
}

/// A share from 0 to 1 as a percentage: `0.25 %`.
pub fn percent(share: f64) -> String {
    match finite(share) {
        Some(share) => format!("{} %", fixed(share * 100.0, 2)),
        None => MISSING.into(),
    }
}

/// A time (a latency in µs, a compile time in ms) with as many decimals as
/// mean something at its size: `3.42`, `48.1`, `1250`.
pub fn time(value: f64) -> String {
    let decimals = match finite(value).map(f64::abs) {
        Some(magnitude) if magnitude >= 1000.0 => 0,
        Some(magnitude) if magnitude >= 10.0 => 1,
        _ => 2,
    };
    fixed(value, decimals)
}

/// A ratio with three significant digits or so: `0.97×`, `2.00×`, `10.2×`,
/// `150×`.
pub fn ratio(value: f64) -> String {
    match finite(value).map(f64::abs) {
        None => MISSING.into(),
        Some(magnitude) if magnitude >= 100.0 => format!("{}×", fixed(value, 0)),
        Some(magnitude) if magnitude >= 10.0 => format!("{}×", fixed(value, 1)),
        Some(_) => format!("{}×", fixed(value, 2)),
    }
}

/// `left / right`, when both are finite and the quotient means something.
pub fn quotient(left: f64, right: f64) -> Option<f64> {
    // A zero divisor gives an infinity or NaN, which `finite` turns away.
    finite(finite(left)? / finite(right)?)
}

/// A short number for plot labels, without trailing zeros: `0.5`, `12.5`,
/// `100`, `2500`.
pub fn short(value: f64) -> String {
    let decimals = match finite(value).map(f64::abs) {
        None => return MISSING.into(),
        Some(magnitude) if magnitude >= 100.0 => 0,
        Some(magnitude) if magnitude >= 10.0 => 1,
        Some(_) => 2,
    };
    trim_zeros(fixed(value, decimals))
}

/// A share P as written in the experiment: `0`, `0.01`, `0.5`, `1`.
pub fn share(value: f64) -> String {
    if finite(value).is_none() {
        return MISSING.into();
    }
    trim_zeros(fixed(value, 6))
}

/// `2.500` → `2.5`, `3.000` → `3`; integers are left alone.
pub fn trim_zeros(number: String) -> String {
    if !number.contains('.') {
        return number;
    }
    number.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_pick_a_unit_by_size() {
        assert_eq!(pps(2_910_000.0), "2.910 Mpps");
        assert_eq!(pps(123_400.0), "123.4 kpps");
        assert_eq!(pps(950.0), "950 pps");
        assert_eq!(pps(0.0), "0 pps");
        assert_eq!(pps(f64::NAN), MISSING);
        assert_eq!(pps(f64::INFINITY), MISSING);
        assert_eq!(pps_pair(2.91e6, 3e6), "2.910 vs 3.000 Mpps");
        assert_eq!(pps_pair(2.91e6, 285e3), "2.910 vs 0.285 Mpps");
        assert_eq!(pps_pair(f64::NAN, 285e3), "– vs 285.0 kpps");
    }

    #[test]
    fn ratios_keep_about_three_digits() {
        assert_eq!(ratio(2.0), "2.00×");
        assert_eq!(ratio(0.97), "0.97×");
        assert_eq!(ratio(10.2), "10.2×");
        assert_eq!(ratio(150.4), "150×");
        assert_eq!(ratio(f64::NAN), MISSING);
    }

    #[test]
    fn quotients_need_a_finite_nonzero_divisor() {
        assert_eq!(quotient(2.0, 1.0), Some(2.0));
        assert_eq!(quotient(2.0, 0.0), None);
        assert_eq!(quotient(0.0, 0.0), None);
        assert_eq!(quotient(f64::NAN, 1.0), None);
        assert_eq!(quotient(1.0, f64::INFINITY), None);
    }

    #[test]
    fn small_numbers_drop_trailing_zeros() {
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(12.5), "12.5");
        assert_eq!(short(100.0), "100");
        assert_eq!(share(0.0), "0");
        assert_eq!(share(0.01), "0.01");
        assert_eq!(share(1.0), "1");
        assert_eq!(fixed(-0.0, 2), "0.00");
        assert_eq!(percent(0.0025), "0.25 %");
        assert_eq!(time(3.421), "3.42");
        assert_eq!(time(48.12), "48.1");
        assert_eq!(time(1250.4), "1250");
    }
}

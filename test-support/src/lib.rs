//! Deterministic random inputs for Galette's tests, without `rand`: the
//! random-input tests of the grammar and the compiler generate chains,
//! mutate files and report what breaks with the pieces here.
//!
//! - [`Rng`]: a seeded SplitMix64. The same seed gives the same inputs on
//!   every machine, so a failure found once can be replayed.
//! - [`seed`] and [`cases`]: `$GALETTE_RANDOM_SEED` and
//!   `$GALETTE_RANDOM_SCALE` turn an everyday run into another or a longer
//!   hunt, without touching the tests.
//! - [`catch_quietly`]: runs code that may panic (the code under test) and
//!   returns the panic's place and message instead of printing it.
//! - [`Findings`] and [`shrink`]: collect one input per kind of problem and
//!   report each with a minimal input that still shows it.
//!
//! A *problem* is a line of text, `KIND | DETAILS`: the text before ` | `
//! names the kind of bug ([`kind_of`]), so that shrinking keeps chasing the
//! same bug and a report lists each bug once, however many inputs hit it.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast, seeded, and good
/// enough to pick tokens and edits. Not for anything that needs secrecy.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose outputs are fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`. Panics if `n` is 0. (The modulo's bias is far
    /// below what choosing among a few tokens can notice.)
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0): there is no number below 0");
        (self.next_u64() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One of `items`, each as likely. Panics if `items` is empty.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Puts `items` in a random order (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The seed of a test: `base`, unless `$GALETTE_RANDOM_SEED` (a number)
/// changes it, for a hunt over other inputs than the everyday run's.
pub fn seed(base: u64) -> u64 {
    seed_with(base, std::env::var("GALETTE_RANDOM_SEED").ok().as_deref())
}

/// How many cases to run: `base` times `$GALETTE_RANDOM_SCALE` (a number,
/// default 1), for a longer hunt than the everyday run.
pub fn cases(base: usize) -> usize {
    cases_with(base, std::env::var("GALETTE_RANDOM_SCALE").ok().as_deref())
}

/// [`seed`] with the variable's value given: XOR keeps `base` when the
/// variable is unset (or not a number), and gives each test its own seed.
fn seed_with(base: u64, variable: Option<&str>) -> u64 {
    base ^ variable.and_then(|text| text.parse::<u64>().ok()).unwrap_or(0)
}

/// [`cases`] with the variable's value given; a scale of 0 counts as 1, so
/// no setting silently runs no case at all.
fn cases_with(base: usize, variable: Option<&str>) -> usize {
    let scale = variable.and_then(|text| text.parse::<usize>().ok()).unwrap_or(1);
    base * scale.max(1)
}

thread_local! {
    /// Whether a panic on this thread is one [`catch_quietly`] is waiting for.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last quiet panic on this thread happened, and what it said.
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `code` and returns what it returned, or, if it panicked,
/// `Err("at FILE:LINE | MESSAGE")` (the problem format of this crate, with
/// the panic's place as its kind). The panic is not printed, so a test that
/// feeds thousands of inputs to code that may panic stays readable; any
/// other panic, on another thread or outside `code`, is printed as usual.
///
/// `code` is run as if it were unwind safe: the caller looks only at the
/// message of a panic, not at state `code` may have left half-changed.
pub fn catch_quietly<T>(code: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    QUIET.with(|quiet| quiet.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(code));
    QUIET.with(|quiet| quiet.set(false));
    result.map_err(|_| LAST_PANIC.with(|last| last.borrow().clone()))
}

/// Installs, once per process, a panic hook that records the panics
/// [`catch_quietly`] waits for and hands every other one to the hook that
/// was there before (the test harness's, which prints them).
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let location = info.location().map(|l| format!("at {}:{}", l.file(), l.line())).unwrap_or_default();
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                LAST_PANIC.with(|last| *last.borrow_mut() = format!("{location} | {message}"));
            } else {
                default(info);
            }
        }));
    });
}

/// What kind of problem `problem` is: the text before ` | `, or all of it.
pub fn kind_of(problem: &str) -> &str {
    problem.split(" | ").next().unwrap_or("")
}

/// Shrinks `input` while `problem` still reports a problem of the same kind
/// ([`kind_of`]) for it: drops ever smaller runs of characters (from the
/// whole input down to single ones), then replaces single characters with
/// `a` or a space where that keeps the problem. What is left is small enough
/// to read, and every character in it matters. An input without a problem
/// is returned as it is.
///
/// Works on characters, not bytes, so every candidate is valid UTF-8.
pub fn shrink(input: &str, problem: impl Fn(&str) -> Option<String>) -> String {
    let Some(kind) = problem(input).map(|p| kind_of(&p).to_owned()) else { return input.to_owned() };
    let still_fails = |candidate: &str| problem(candidate).is_some_and(|p| kind_of(&p) == kind);
    let mut chars: Vec<char> = input.chars().collect();
    let mut chunk = chars.len().max(1);
    while chunk > 0 {
        let mut start = 0;
        while start < chars.len() {
            let end = (start + chunk).min(chars.len());
            let candidate: String = chars[..start].iter().chain(&chars[end..]).collect();
            if still_fails(&candidate) {
                chars = candidate.chars().collect();
            } else {
                start += chunk;
            }
        }
        chunk /= 2;
    }
    // Simpler characters where they do not matter.
    for index in 0..chars.len() {
        for simpler in ['a', ' '] {
            if chars[index] == simpler {
                break;
            }
            let mut candidate = chars.clone();
            candidate[index] = simpler;
            let text: String = candidate.iter().collect();
            if still_fails(&text) {
                chars = candidate;
                break;
            }
        }
    }
    chars.into_iter().collect()
}

/// The problems a random test found: the first input of each kind, so that
/// the report names every distinct bug once and shrinking runs once per bug.
#[derive(Debug, Default)]
pub struct Findings {
    /// `(kind, origin, input, problem)`, one per kind, in the order found.
    found: Vec<(String, String, String, String)>,
    cases: usize,
}

impl Findings {
    pub fn new() -> Findings {
        Findings::default()
    }

    /// Counts one case, and keeps it if it shows a problem of a kind not
    /// seen yet. `origin` says where the input came from ("mutation #12");
    /// it is only called for an input that is kept.
    pub fn record(&mut self, origin: impl FnOnce() -> String, input: &str, problem: Option<String>) {
        self.cases += 1;
        if let Some(problem) = problem {
            let kind = kind_of(&problem).to_owned();
            if !self.found.iter().any(|(known, ..)| *known == kind) {
                self.found.push((kind, origin(), input.to_owned(), problem));
            }
        }
    }

    /// The number of cases recorded.
    pub fn cases(&self) -> usize {
        self.cases
    }

    /// Passes if no case showed a problem. Otherwise panics with each
    /// problem, the input that showed it first, that input shrunk with
    /// `problem` (the same check the cases went through) and what the shrunk
    /// input gives.
    pub fn assert_none(self, problem: impl Fn(&str) -> Option<String>) {
        if self.found.is_empty() {
            return;
        }
        let mut report = format!("{} problem(s) in {} inputs:\n", self.found.len(), self.cases);
        for (_, origin, input, first) in &self.found {
            let minimal = shrink(input, &problem);
            let now = problem(&minimal).unwrap_or_else(|| "(no problem)".to_owned());
            report.push_str(&format!(
                "\n- {first}\n  found in {origin}: {input:?}\n  minimal input: {minimal:?}\n  which gives: {now}\n"
            ));
        }
        panic!("{report}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_splitmix64() {
        // The reference outputs of SplitMix64 from state 0: every seed of
        // the random tests keeps giving the inputs it gave before.
        let mut rng = Rng::new(0);
        assert_eq!(
            [rng.next_u64(), rng.next_u64(), rng.next_u64()],
            [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]
        );
        let (mut a, mut b) = (Rng::new(0x5eed), Rng::new(0x5eed));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()), "one seed, one sequence");
    }

    #[test]
    fn below_pick_and_chance_stay_in_their_ranges() {
        let mut rng = Rng::new(7);
        let draws: Vec<usize> = (0..1000).map(|_| rng.below(6)).collect();
        assert!(draws.iter().all(|&d| d < 6));
        assert!((0..6).all(|value| draws.contains(&value)), "every value comes up");
        assert!((0..200).all(|_| ["a", "b"].contains(&rng.pick(&["a", "b"]))));
        assert!((0..200).all(|_| !rng.chance(0) && rng.chance(100)));
        let heads = (0..10_000).filter(|_| rng.chance(30)).count();
        assert!((2700..3300).contains(&heads), "30 % of 10,000 draws: {heads}");
    }

    #[test]
    #[should_panic(expected = "no number below 0")]
    fn below_zero_is_a_bug_in_the_test() {
        Rng::new(1).below(0);
    }

    #[test]
    fn shuffle_permutes() {
        let mut rng = Rng::new(3);
        let mut items: Vec<u32> = (0..50).collect();
        rng.shuffle(&mut items);
        assert_ne!(items, (0..50).collect::<Vec<_>>(), "50 items are not left in order");
        items.sort_unstable();
        assert_eq!(items, (0..50).collect::<Vec<_>>(), "the same items");
        rng.shuffle(&mut [] as &mut [u32]);
    }

    #[test]
    fn the_environment_reseeds_and_scales() {
        assert_eq!(seed_with(0x5eed_0001, None), 0x5eed_0001);
        assert_eq!(seed_with(0x5eed_0001, Some("not a number")), 0x5eed_0001);
        assert_eq!(seed_with(0x5eed_0001, Some("3")), 0x5eed_0002);
        assert_eq!(cases_with(300, None), 300);
        assert_eq!(cases_with(300, Some("10")), 3000);
        assert_eq!(cases_with(300, Some("0")), 300);
        assert_eq!(cases_with(300, Some("lots")), 300);
    }

    #[test]
    fn a_caught_panic_says_where_and_what() {
        assert_eq!(catch_quietly(|| 41 + 1), Ok(42));
        let line = line!() + 1;
        let caught = catch_quietly(|| panic!("bad input {}", 7)).unwrap_err();
        assert_eq!(caught, format!("at {}:{line} | bad input 7", file!()));
        assert_eq!(kind_of(&caught), format!("at {}:{line}", file!()));
        let with_str = catch_quietly(|| -> u8 { panic!("plain") }).unwrap_err();
        assert!(with_str.ends_with(" | plain"), "{with_str}");
    }

    /// A problem of kind "x" when the input holds an `x` (and a `y` after
    /// it), else of kind "y" when it holds a `y`.
    fn x_then_y(input: &str) -> Option<String> {
        if input.contains('x') && input.contains('y') && input.find('x') < input.rfind('y') {
            Some(format!("x before y | in {input:?}"))
        } else if input.contains('y') {
            Some(format!("a y | in {input:?}"))
        } else {
            None
        }
    }

    #[test]
    fn shrinking_keeps_only_what_the_problem_needs() {
        assert_eq!(shrink("some text, then x, then more: y!", x_then_y), "xy");
        assert_eq!(shrink("yes, y", x_then_y), "y");
        assert_eq!(shrink("nothing wrong", x_then_y), "nothing wrong");
        // Characters are kept whole: the shrunk text is valid UTF-8.
        assert_eq!(shrink("日本x🦀éy語", x_then_y), "xy");
    }

    #[test]
    fn shrinking_keeps_the_kind_of_problem() {
        // Dropping the `x` would still leave a problem, of another kind: the
        // shrinker must not wander off to that other bug.
        let shrunk = shrink("ab x cd y", x_then_y);
        assert_eq!(kind_of(&x_then_y(&shrunk).unwrap()), "x before y");
    }

    #[test]
    fn characters_that_matter_are_not_simplified() {
        let needs_two_spaces = |input: &str| input.contains("b  c").then(|| "spaces | ".to_owned());
        assert_eq!(shrink("aab  ccc", needs_two_spaces), "b  c");
    }

    #[test]
    fn findings_report_each_kind_once_with_a_minimal_input() {
        let mut findings = Findings::new();
        for (case, input) in ["fine", "has x and later y", "x then y again", "only y here"].iter().enumerate() {
            findings.record(|| format!("case #{case}"), input, x_then_y(input));
        }
        assert_eq!(findings.cases(), 4);
        let report = catch_quietly(|| findings.assert_none(x_then_y)).unwrap_err();
        assert!(report.contains("2 problem(s) in 4 inputs"), "{report}");
        assert!(report.contains("found in case #1: \"has x and later y\""), "{report}");
        assert!(!report.contains("case #2"), "a second input of a known kind is not kept: {report}");
        assert!(report.contains("minimal input: \"xy\""), "{report}");
        assert!(report.contains("found in case #3: \"only y here\"\n  minimal input: \"y\""), "{report}");
        Findings::new().assert_none(x_then_y);
    }
}

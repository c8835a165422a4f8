//! "Did you mean" suggestions for misspelt names.

/// The candidate closest to `name`, if it is close enough to be a likely
/// typo. As rustc does, a candidate that differs only in case wins outright
/// (`TCP` → `tcp`); otherwise names are compared case-insensitively with an
/// edit distance that counts a swap of two neighbouring characters as one
/// edit (`tpc` → `tcp`), and the distance may be at most a third of the
/// name's length (and at least 1).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    if let Some(same_but_case) = candidates.iter().find(|candidate| candidate.eq_ignore_ascii_case(name)) {
        return Some(same_but_case);
    }
    let limit = (name.chars().count() / 3).max(1);
    let name = name.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&name, &candidate.to_lowercase()), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The optimal string alignment distance, by characters: Levenshtein's
/// insertions, deletions and substitutions, plus the transposition of two
/// neighbouring characters as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: the distance between a[..i] and b[..j].
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = rows[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(rows[i - 1][j] + 1).min(rows[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(closest("clasifier", ["classifier", "acl"]), Some("classifier"));
        assert_eq!(closest("tx", ["tx", "pass"]), Some("tx"));
        assert_eq!(closest("zzz", ["classifier", "acl"]), None);
    }

    #[test]
    fn a_swap_is_one_edit() {
        let ports = ["tcp", "udp", "other"];
        assert_eq!(closest("tpc", ports), Some("tcp"));
        assert_eq!(closest("ohter", ports), Some("other"));
        assert_eq!(closest("othr", ports), Some("other"));
    }

    #[test]
    fn case_differences_are_no_edit() {
        assert_eq!(closest("TCP", ["tcp", "udp", "other"]), Some("tcp"));
        assert_eq!(closest("Flowstat", ["FlowStats", "SourceKey"]), Some("FlowStats"));
    }

    #[test]
    fn counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("abc", "ca"), 3);
    }
}

//! Sorted-list operations and the generic matcher planner.

use pharos_model::Matcher;

/// An index that can list series by label pair.
pub trait PostingsSource {
    /// Every series reference, sorted.
    fn all_postings(&self) -> Vec<u32>;
    /// Series carrying `name=value`, sorted.
    fn postings_eq(&self, name: &str, value: &str) -> Vec<u32>;
    /// Series carrying label `name` with a value for which `pred` holds, sorted, unique.
    fn postings_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> Vec<u32>;
}

/// Series selected by all `matchers`, sorted.
pub fn postings_for_matchers(src: &dyn PostingsSource, matchers: &[Matcher]) -> Vec<u32> {
    let mut include: Vec<Vec<u32>> = Vec::new();
    let mut exclude: Vec<Vec<u32>> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            // Selects series without the label too: remove those whose value fails it.
            exclude.push(src.postings_where(&m.name, &mut |v| !m.matches(v)));
        } else if let Some(values) = m.set_matches() {
            let lists: Vec<Vec<u32>> = values.iter().map(|v| src.postings_eq(&m.name, v)).collect();
            include.push(union_sorted(lists));
        } else {
            include.push(src.postings_where(&m.name, &mut |v| m.matches(v)));
        }
    }
    // Smallest first, so intersections shrink quickly.
    include.sort_by_key(Vec::len);
    let mut result = match include.len() {
        0 => src.all_postings(),
        _ => {
            let mut it = include.into_iter();
            let mut acc = it.next().unwrap_or_default();
            for l in it {
                if acc.is_empty() {
                    break;
                }
                acc = intersect(&acc, &l);
            }
            acc
        }
    };
    for ex in &exclude {
        if result.is_empty() {
            break;
        }
        result = subtract(&result, ex);
    }
    result
}

pub fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if small.len() * 16 < large.len() {
        // Galloping via binary search pays off when one side is much shorter.
        let mut lo = 0;
        for &x in small {
            match large[lo..].binary_search(&x) {
                Ok(i) => {
                    out.push(x);
                    lo += i + 1;
                }
                Err(i) => lo += i,
            }
            if lo >= large.len() {
                break;
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

pub fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            continue;
        }
        out.push(x);
    }
    out
}

/// Union of sorted lists, sorted and unique.
pub fn union_sorted(mut lists: Vec<Vec<u32>>) -> Vec<u32> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists.pop().unwrap_or_default(),
        _ => {
            let mut all: Vec<u32> = lists.concat();
            all.sort_unstable();
            all.dedup();
            all
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::MatchOp;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A tiny index over explicit label sets, to check the planner against brute force.
    struct Fixture {
        series: Vec<BTreeMap<String, String>>,
    }

    impl PostingsSource for Fixture {
        fn all_postings(&self) -> Vec<u32> {
            (0..self.series.len() as u32).collect()
        }
        fn postings_eq(&self, name: &str, value: &str) -> Vec<u32> {
            self.postings_where(name, &mut |v| v == value)
        }
        fn postings_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> Vec<u32> {
            (0..self.series.len())
                .filter(|&i| self.series[i].get(name).is_some_and(|v| pred(v)))
                .map(|i| i as u32)
                .collect()
        }
    }

    fn brute(f: &Fixture, ms: &[Matcher]) -> Vec<u32> {
        (0..f.series.len())
            .filter(|&i| {
                ms.iter()
                    .all(|m| m.matches(f.series[i].get(&m.name).map(String::as_str).unwrap_or("")))
            })
            .map(|i| i as u32)
            .collect()
    }

    fn fixture() -> Fixture {
        let rows: &[&[(&str, &str)]] = &[
            &[("__name__", "up"), ("job", "a"), ("env", "prod")],
            &[("__name__", "up"), ("job", "b")],
            &[("__name__", "up"), ("job", "c"), ("env", "")],
            &[("__name__", "cpu"), ("job", "a"), ("env", "dev")],
            &[("__name__", "cpu"), ("instance", "x")],
        ];
        Fixture {
            series: rows
                .iter()
                .map(|r| {
                    r.iter()
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect()
                })
                .collect(),
        }
    }

    fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
        Matcher::new(op, n, v).unwrap()
    }

    #[test]
    fn prometheus_empty_semantics() {
        let f = fixture();
        let cases = vec![
            vec![m(MatchOp::Equal, "env", "")],
            vec![m(MatchOp::NotEqual, "env", "")],
            vec![m(MatchOp::NotEqual, "env", "prod")],
            vec![m(MatchOp::RegexMatch, "env", "prod|")],
            vec![m(MatchOp::RegexMatch, "env", ".+")],
            vec![m(MatchOp::RegexNoMatch, "env", ".*")],
            vec![m(MatchOp::RegexNoMatch, "env", "")],
            vec![
                m(MatchOp::Equal, "__name__", "up"),
                m(MatchOp::RegexMatch, "job", "a|b"),
            ],
            vec![
                m(MatchOp::Equal, "__name__", "up"),
                m(MatchOp::NotEqual, "job", "a"),
            ],
            vec![
                m(MatchOp::RegexMatch, "job", ".*"),
                m(MatchOp::Equal, "instance", ""),
            ],
            vec![m(MatchOp::Equal, "nolabel", "")],
            vec![m(MatchOp::Equal, "nolabel", "x")],
        ];
        for ms in cases {
            assert_eq!(postings_for_matchers(&f, &ms), brute(&f, &ms), "{ms:?}");
        }
        assert_eq!(
            postings_for_matchers(&f, &[m(MatchOp::Equal, "env", "")]),
            vec![1, 2, 4]
        );
    }

    proptest! {
        #[test]
        fn planner_equals_brute_force(
            rows in prop::collection::vec(prop::collection::btree_map("[abc]", "[xyz]{0,2}", 0..3), 0..20),
            specs in prop::collection::vec((0..4u8, "[abc]", "[xyz.|*]{0,3}"), 1..4),
        ) {
            let f = Fixture { series: rows.into_iter().map(|r| r.into_iter().filter(|(_, v)| !v.is_empty()).collect()).collect() };
            let ops = [MatchOp::Equal, MatchOp::NotEqual, MatchOp::RegexMatch, MatchOp::RegexNoMatch];
            let ms: Vec<Matcher> = specs.into_iter().filter_map(|(o, n, v)| Matcher::new(ops[o as usize], n, v).ok()).collect();
            prop_assert_eq!(postings_for_matchers(&f, &ms), brute(&f, &ms));
        }

        #[test]
        fn set_ops(mut a in prop::collection::vec(0u32..50, 0..30), mut b in prop::collection::vec(0u32..50, 0..30)) {
            a.sort_unstable(); a.dedup(); b.sort_unstable(); b.dedup();
            let i: Vec<u32> = a.iter().copied().filter(|x| b.contains(x)).collect();
            let s: Vec<u32> = a.iter().copied().filter(|x| !b.contains(x)).collect();
            prop_assert_eq!(intersect(&a, &b), i);
            prop_assert_eq!(subtract(&a, &b), s);
        }
    }
}

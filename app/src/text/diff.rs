//! Line diff of two texts (Myers' O(ND) algorithm with a bounded edit budget).
//!
//! Lines are split on `\n`; a `\r` before it stays part of the line text. A trailing
//! `\n` ends the last line instead of starting a new empty one, so `"a\n"` is the single
//! line `"a"`, and `"a"` and `"a\n"` compare as identical. The empty text has zero lines,
//! while `"\n"` is one empty line.
//!
//! The common prefix and suffix are trimmed first. The middle is diffed exactly if that
//! takes at most [`MAX_EDITS`] inserted plus removed lines (O(N·D) time, O(D²) memory);
//! otherwise it is shown as "all old lines removed, all new lines added" and the diff is
//! marked `truncated`.

/// Kind of a diff row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineTag {
    /// Present in both texts.
    Same,
    /// Only in the old text.
    Removed,
    /// Only in the new text.
    Added,
}

/// One row of a diff. Line numbers are 1-based; `old_no` is `None` for added lines
/// and `new_no` is `None` for removed lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub tag: LineTag,
    pub text: String,
    pub old_no: Option<usize>,
    pub new_no: Option<usize>,
}

/// A full line diff: every line of both texts, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDiff {
    pub lines: Vec<DiffLine>,
    /// The texts were too different to diff exactly within [`MAX_EDITS`]; the changed
    /// middle is then all old lines removed followed by all new lines added.
    pub truncated: bool,
}

/// Largest number of removed plus added lines computed exactly.
pub const MAX_EDITS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Same,
    Del,
    Ins,
}

/// Splits on `\n`, treating a final `\n` as a terminator (see the module docs).
fn split_lines(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    text.strip_suffix('\n').unwrap_or(text).split('\n').collect()
}

/// Diffs `old` against `new` line by line; removed lines precede added ones in a change.
pub fn line_diff(old: &str, new: &str) -> LineDiff {
    let (a, b) = (split_lines(old), split_lines(new));
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a_mid, b_mid) = (a.get(pre..).unwrap_or_default(), b.get(pre..).unwrap_or_default());
    let suf = a_mid
        .iter()
        .rev()
        .zip(b_mid.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let a_mid = a_mid.get(..a_mid.len().saturating_sub(suf)).unwrap_or_default();
    let b_mid = b_mid.get(..b_mid.len().saturating_sub(suf)).unwrap_or_default();

    let exact = if a_mid.is_empty() || b_mid.is_empty() {
        Some(Vec::new()) // handled by the fallback below, which is then exact
    } else {
        myers(a_mid, b_mid, MAX_EDITS)
    };
    let truncated = exact.is_none();
    let middle = match exact {
        Some(ops) if !ops.is_empty() => ops,
        _ => {
            let dels = std::iter::repeat_n(Op::Del, a_mid.len());
            dels.chain(std::iter::repeat_n(Op::Ins, b_mid.len())).collect()
        }
    };

    let ops = std::iter::repeat_n(Op::Same, pre)
        .chain(middle)
        .chain(std::iter::repeat_n(Op::Same, suf));
    let mut lines = Vec::with_capacity(a.len() + b.len());
    let mut added = Vec::new(); // held back so that a change lists removals first
    let (mut i, mut j) = (0, 0);
    let row = |tag, text: Option<&&str>, old_no, new_no| DiffLine {
        tag,
        text: text.copied().unwrap_or_default().to_string(),
        old_no,
        new_no,
    };
    for op in ops {
        match op {
            Op::Same => {
                lines.append(&mut added);
                lines.push(row(LineTag::Same, a.get(i), Some(i + 1), Some(j + 1)));
                i += 1;
                j += 1;
            }
            Op::Del => {
                lines.push(row(LineTag::Removed, a.get(i), Some(i + 1), None));
                i += 1;
            }
            Op::Ins => {
                added.push(row(LineTag::Added, b.get(j), None, Some(j + 1)));
                j += 1;
            }
        }
    }
    lines.append(&mut added);
    LineDiff { lines, truncated }
}

/// Shortest edit script from `a` to `b`, or `None` when it needs more than `max_d` edits.
fn myers(a: &[&str], b: &[&str], max_d: usize) -> Option<Vec<Op>> {
    if a.len().abs_diff(b.len()) > max_d {
        return None;
    }
    let (n, m) = (a.len() as isize, b.len() as isize);
    let limit = max_d.min(a.len() + b.len()) as isize;
    let off = limit + 1;
    let mut v = vec![0isize; 2 * limit as usize + 3];
    // trace[d] = furthest x per diagonal k in -(d+1)..=d+1 before step d.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let at = |v: &[isize], k: isize| v.get((off + k) as usize).copied().unwrap_or(0);
    for d in 0..=limit {
        let window = v.get((off - d - 1) as usize..=(off + d + 1) as usize);
        trace.push(window.unwrap_or_default().to_vec());
        for k in (-d..=d).step_by(2) {
            let mut x = if k == -d || (k != d && at(&v, k - 1) < at(&v, k + 1)) {
                at(&v, k + 1)
            } else {
                at(&v, k - 1) + 1
            };
            let mut y = x - k;
            while x < n && y >= 0 && y < m && a.get(x as usize) == b.get(y as usize) {
                x += 1;
                y += 1;
            }
            if let Some(slot) = v.get_mut((off + k) as usize) {
                *slot = x;
            }
            if x >= n && y >= m {
                return Some(backtrack(&trace, n, m));
            }
        }
    }
    None
}

fn backtrack(trace: &[Vec<isize>], n: isize, m: isize) -> Vec<Op> {
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let at = |k: isize| v.get((k + d + 1) as usize).copied().unwrap_or(0);
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = at(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Same);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if x == prev_x { Op::Ins } else { Op::Del });
        }
        (x, y) = (prev_x, prev_y);
    }
    ops.reverse();
    ops
}

/// Only the changed lines with `context` unchanged lines around each change. Each skipped
/// run becomes one `Same` row with text `"…N unchanged lines"` (`"…1 unchanged line"`)
/// and no line numbers. A diff without changes becomes a single skipped-run row.
pub fn hunks(diff: &LineDiff, context: usize) -> Vec<DiffLine> {
    let lines = &diff.lines;
    let mut keep = vec![false; lines.len()];
    let mut last: Option<usize> = None;
    for (i, (line, k)) in lines.iter().zip(keep.iter_mut()).enumerate() {
        if line.tag != LineTag::Same {
            last = Some(i);
        }
        *k = last.is_some_and(|c| i - c <= context);
    }
    let mut next: Option<usize> = None;
    for (i, (line, k)) in lines.iter().zip(keep.iter_mut()).enumerate().rev() {
        if line.tag != LineTag::Same {
            next = Some(i);
        }
        *k |= next.is_some_and(|c| c - i <= context);
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    let flush = |out: &mut Vec<DiffLine>, skipped: &mut usize| {
        if *skipped > 0 {
            let s = if *skipped == 1 { "" } else { "s" };
            let text = format!("…{skipped} unchanged line{s}");
            out.push(DiffLine {
                tag: LineTag::Same,
                text,
                old_no: None,
                new_no: None,
            });
            *skipped = 0;
        }
    };
    for (line, k) in lines.iter().zip(&keep) {
        if *k {
            flush(&mut out, &mut skipped);
            out.push(line.clone());
        } else {
            skipped += 1;
        }
    }
    flush(&mut out, &mut skipped);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as `<sign><text> <old>/<new>` joined by `|`, e.g. ` a 1/1|-b 2/_|+x _/2`.
    fn show(rows: &[DiffLine]) -> String {
        let no = |n: Option<usize>| n.map_or("_".to_string(), |n| n.to_string());
        let sign = |t| match t {
            LineTag::Same => ' ',
            LineTag::Removed => '-',
            LineTag::Added => '+',
        };
        let rows = rows
            .iter()
            .map(|l| format!("{}{} {}/{}", sign(l.tag), l.text, no(l.old_no), no(l.new_no)));
        rows.collect::<Vec<_>>().join("|")
    }

    fn diff(old: &str, new: &str) -> String {
        let d = line_diff(old, new);
        assert!(!d.truncated);
        show(&d.lines)
    }

    /// Rebuilds both sides from the diff, checks numbering and that the diff is minimal.
    fn check(old: &str, new: &str, d: &LineDiff) {
        let side = |skip: LineTag, no: fn(&DiffLine) -> Option<usize>| {
            let kept: Vec<&DiffLine> = d.lines.iter().filter(|l| l.tag != skip).collect();
            let want: Vec<Option<usize>> = (1..=kept.len()).map(Some).collect();
            assert_eq!(kept.iter().map(|l| no(l)).collect::<Vec<_>>(), want);
            kept.iter().map(|l| l.text.as_str()).collect::<Vec<_>>()
        };
        let (a, b) = (split_lines(old), split_lines(new));
        assert_eq!(side(LineTag::Added, |l| l.old_no), a);
        assert_eq!(side(LineTag::Removed, |l| l.new_no), b);
        if !d.truncated && a.len() * b.len() < 10_000 {
            let mut prev = vec![0; b.len() + 1]; // reference LCS length by dynamic programming
            for x in &a {
                let mut cur = vec![0; b.len() + 1];
                for (j, y) in b.iter().enumerate() {
                    cur[j + 1] = if x == y { prev[j] + 1 } else { prev[j + 1].max(cur[j]) };
                }
                prev = cur;
            }
            let same = d.lines.iter().filter(|l| l.tag == LineTag::Same).count();
            assert_eq!(Some(&same), prev.last(), "not minimal");
        }
    }

    #[test]
    fn splitting_and_trailing_newline() {
        assert!(split_lines("").is_empty());
        assert_eq!(split_lines("a\n"), ["a"]);
        assert_eq!(split_lines("a"), ["a"]);
        assert_eq!(split_lines("\n"), [""]);
        assert_eq!(split_lines("a\n\n"), ["a", ""]);
        assert_eq!(split_lines("a\r\nb\r\n"), ["a\r", "b\r"]);
        assert_eq!(diff("a\nb", "a\nb\n"), " a 1/1| b 2/2");
        assert_eq!(diff("a\r\n", "a\n"), "-a\r 1/_|+a _/1");
        assert_eq!(diff("a\n", "a\n\n"), " a 1/1|+ _/2");
    }

    #[test]
    fn identical_empty_insert_delete_replace() {
        assert_eq!(diff("x\ny", "x\ny"), " x 1/1| y 2/2");
        assert_eq!(diff("", ""), "");
        assert_eq!(diff("", "a\nb"), "+a _/1|+b _/2");
        assert_eq!(diff("a\nb\n", ""), "-a 1/_|-b 2/_");
        assert_eq!(diff("a\nc", "a\nb\nc"), " a 1/1|+b _/2| c 2/3");
        assert_eq!(diff("a\nb\nc", "a\nc"), " a 1/1|-b 2/_| c 3/2");
        assert_eq!(
            diff("1\n2\n3\nend", "4\n5\n6\nend"),
            "-1 1/_|-2 2/_|-3 3/_|+4 _/1|+5 _/2|+6 _/3| end 4/4"
        );
        assert_eq!(
            diff("a\nb\nc\nd\ne", "a\nx\nc\ne\nf"),
            " a 1/1|-b 2/_|+x _/2| c 3/3|-d 4/_| e 5/4|+f _/5"
        );
        assert_eq!(diff("é\n漢", "é\n🎉\n漢"), " é 1/1|+🎉 _/2| 漢 2/3");
    }

    #[test]
    fn pseudo_random_texts() {
        let mut seed = 0x2545_f491_u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        for _ in 0..300 {
            let (la, lb) = (next() % 12, next() % 12);
            let mut make = |len: usize| -> String {
                let words = ["a", "b", "c", "", "é\r", "漢"];
                (0..len).map(|_| words[next() % 6]).collect::<Vec<_>>().join("\n")
            };
            let (old, new) = (make(la), make(lb));
            let d = line_diff(&old, &new);
            assert!(!d.truncated);
            check(&old, &new, &d);
        }
    }

    #[test]
    fn large_inputs_stay_bounded() {
        let old: Vec<String> = (0..20_000).map(|i| format!("line {i}")).collect();
        let mut new = old.clone();
        for i in [3, 7_000, 7_001, 19_998] {
            if let Some(l) = new.get_mut(i) {
                *l = format!("changed {i}");
            }
        }
        new.insert(12_000, "inserted".into());
        let (old, new) = (old.join("\n"), new.join("\n"));
        let d = line_diff(&old, &new);
        assert!(!d.truncated);
        assert_eq!(d.lines.iter().filter(|l| l.tag != LineTag::Same).count(), 9);
        check(&old, &new, &d);

        let other: String = (0..20_000).map(|i| format!("other {i}\n")).collect();
        let d = line_diff(&old, &other);
        assert!(d.truncated);
        assert_eq!(d.lines.len(), 40_000);
        check(&old, &other, &d);
        assert_eq!(hunks(&d, 3).len(), 40_000);
    }

    #[test]
    fn hunks_with_context() {
        let old: String = (1..=10).map(|i| format!("{i}\n")).collect();
        let d = line_diff(&old, &old.replace("5\n", "five\n"));
        let h1 = " …3 unchanged lines _/_| 4 4/4|-5 5/_|+five _/5| 6 6/6| …4 unchanged lines _/_";
        assert_eq!(show(&hunks(&d, 1)), h1);
        let h0 = " …4 unchanged lines _/_|-5 5/_|+five _/5| …5 unchanged lines _/_";
        assert_eq!(show(&hunks(&d, 0)), h0);
        assert_eq!(hunks(&d, usize::MAX), d.lines);
        let one = line_diff("a\nb\nc", "a\nb\nC");
        assert_eq!(show(&hunks(&one, 1)), " …1 unchanged line _/_| b 2/2|-c 3/_|+C _/3");
        assert_eq!(show(&hunks(&line_diff("a\nb", "a\nb"), 2)), " …2 unchanged lines _/_");
        assert!(hunks(&line_diff("", ""), 2).is_empty());
    }
}

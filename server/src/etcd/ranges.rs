//! The key ranges Leasehold reads and watches: a prefix's range as etcd
//! defines it, and the set of `--prefix` ranges, merged, with the one range
//! that covers them all for the watch.

/// The end of the range of keys starting with `prefix`, as etcd defines it.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Empty prefix, or all 0xff: to the end of the keyspace.
    vec![0]
}

/// One watched range: `[start, end)`, or to the end of the keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyRange {
    pub(super) start: Vec<u8>,
    /// `None`: to the end of the keyspace.
    pub(super) end: Option<Vec<u8>>,
}

impl KeyRange {
    pub(super) fn of_prefix(prefix: Vec<u8>) -> Self {
        let end = prefix_end(&prefix);
        KeyRange {
            start: prefix,
            end: (end != [0]).then_some(end),
        }
    }

    /// The range end as etcd writes it: `\0` for "to the end".
    pub(super) fn etcd_end(&self) -> Vec<u8> {
        self.end.clone().unwrap_or_else(|| vec![0])
    }

    pub(super) fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }
}

/// The watched ranges, sorted by start, overlapping ones merged (`--prefix
/// /a` and `--prefix /a/b` are one range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ranges(Vec<KeyRange>);

impl Ranges {
    pub(super) fn of(prefixes: Vec<Vec<u8>>) -> Self {
        if prefixes.is_empty() || prefixes.iter().any(Vec::is_empty) {
            return Ranges(vec![KeyRange {
                start: vec![0],
                end: None,
            }]);
        }
        let mut ranges: Vec<KeyRange> = prefixes.into_iter().map(KeyRange::of_prefix).collect();
        ranges.sort_by(|a, b| a.start.cmp(&b.start));
        let mut merged: Vec<KeyRange> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                Some(last) if last.end.as_ref().is_none_or(|end| range.start <= *end) => {
                    last.end = match (last.end.take(), range.end) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
                _ => merged.push(range),
            }
        }
        Ranges(merged)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &KeyRange> {
        self.0.iter()
    }

    /// One range over all of them: from the first start to the last end.
    pub(super) fn covering(&self) -> KeyRange {
        KeyRange {
            start: self.0.first().map(|r| r.start.clone()).unwrap_or_else(|| vec![0]),
            end: self.0.last().and_then(|r| r.end.clone()),
        }
    }

    pub(super) fn contains(&self, key: &[u8]) -> bool {
        match self.0.as_slice() {
            [only] => only.contains(key),
            ranges => {
                // The last range starting at or before `key`.
                let after = ranges.partition_point(|r| r.start.as_slice() <= key);
                after > 0 && ranges[after - 1].contains(key)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/a"), b"/b".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
        assert_eq!(prefix_end(&[0xff, 0xff]), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn ranges_are_merged_sorted_and_filter_keys() {
        let ranges = Ranges::of(vec![b"/b/".to_vec(), b"/a/x/".to_vec(), b"/a/".to_vec()]);
        assert_eq!(
            ranges.0,
            vec![
                KeyRange::of_prefix(b"/a/".to_vec()),
                KeyRange::of_prefix(b"/b/".to_vec())
            ]
        );
        assert!(ranges.contains(b"/a/x/1"));
        assert!(ranges.contains(b"/b/"));
        assert!(!ranges.contains(b"/a"));
        assert!(!ranges.contains(b"/az"));
        assert!(!ranges.contains(b"/c/"));
        assert_eq!(ranges.covering().start, b"/a/".to_vec());
        assert_eq!(ranges.covering().end, Some(b"/b0".to_vec()));

        let all = Ranges::of(Vec::new());
        assert!(all.contains(b"anything") && all.contains(&[0xff, 0xff]));
        assert_eq!(all.covering().etcd_end(), vec![0]);
        let to_end = Ranges::of(vec![vec![0xff], b"/a".to_vec()]);
        assert!(to_end.contains(&[0xff, 1]) && to_end.contains(b"/ab") && !to_end.contains(b"/b"));
        assert_eq!(to_end.covering().end, None);
    }
}

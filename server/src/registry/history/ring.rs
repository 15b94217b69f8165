//! One series' buckets at one width: a fixed number of the newest buckets,
//! the oldest dropped as new ones close.

use std::collections::VecDeque;

/// Buckets of `step` seconds, at most `capacity` of them, the newest last.
/// A bucket without a sample is a gap (`NaN`), so every value's time is
/// known from the newest bucket's start and its place.
#[derive(Debug, Clone)]
pub struct Ring {
    step: i64,
    capacity: usize,
    values: VecDeque<f64>,
    /// The newest bucket's start (unix seconds).
    newest: Option<i64>,
}

impl Ring {
    pub fn new(step_seconds: u32, capacity: usize) -> Self {
        Ring {
            step: i64::from(step_seconds.max(1)),
            capacity: capacity.max(1),
            values: VecDeque::new(),
            newest: None,
        }
    }

    /// The start of the bucket `unix_seconds` falls in.
    pub fn bucket_of(&self, unix_seconds: i64) -> i64 {
        unix_seconds.div_euclid(self.step) * self.step
    }

    /// Sets the bucket of `unix_seconds` to `value` (a gauge: the last value
    /// in a bucket is its value).
    pub fn set(&mut self, unix_seconds: i64, value: f64) {
        if let Some(slot) = self.slot(unix_seconds) {
            *slot = value;
        }
    }

    /// Adds `value` to the bucket of `unix_seconds` (a count).
    pub fn add(&mut self, unix_seconds: i64, value: f64) {
        if let Some(slot) = self.slot(unix_seconds) {
            *slot = if slot.is_nan() { value } else { *slot + value };
        }
    }

    /// Keeps the larger of the bucket's value and `value` (the longest of
    /// the bucket's samples).
    pub fn max(&mut self, unix_seconds: i64, value: f64) {
        if let Some(slot) = self.slot(unix_seconds) {
            *slot = if slot.is_nan() { value } else { slot.max(value) };
        }
    }

    /// The bucket of `unix_seconds`, opened (with gaps for the buckets
    /// between) when it is newer than the newest; `None` when it is older
    /// than what is kept, or before the newest bucket (time went back: the
    /// point is dropped rather than written out of order).
    fn slot(&mut self, unix_seconds: i64) -> Option<&mut f64> {
        let bucket = self.bucket_of(unix_seconds);
        match self.newest {
            Some(newest) if bucket < newest => {
                let back = usize::try_from((newest - bucket) / self.step).ok()?;
                let index = self.values.len().checked_sub(1 + back)?;
                self.values.get_mut(index)
            }
            Some(newest) if bucket == newest => self.values.back_mut(),
            _ => {
                let gaps = match self.newest {
                    Some(newest) => usize::try_from((bucket - newest) / self.step - 1).unwrap_or(0),
                    None => 0,
                };
                if gaps >= self.capacity {
                    self.values.clear();
                } else {
                    self.values.extend(std::iter::repeat_n(f64::NAN, gaps));
                }
                self.values.push_back(f64::NAN);
                while self.values.len() > self.capacity {
                    self.values.pop_front();
                }
                self.newest = Some(bucket);
                self.values.back_mut()
            }
        }
    }

    /// Every kept bucket with a value, oldest first, as `(start, value)`.
    pub fn points(&self) -> Vec<(i64, f64)> {
        self.points_since(i64::MIN)
    }

    /// The buckets starting at or after `since`, oldest first.
    pub fn points_since(&self, since: i64) -> Vec<(i64, f64)> {
        let Some(newest) = self.newest else {
            return Vec::new();
        };
        let len = self.values.len() as i64;
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, v)| (newest - (len - 1 - i as i64) * self.step, *v))
            .filter(|(t, _)| *t >= since)
            .collect()
    }

    /// The value of the bucket starting at `bucket`, if it has one.
    pub fn value_at(&self, bucket: i64) -> Option<f64> {
        let newest = self.newest?;
        if bucket > newest {
            return None;
        }
        let back = usize::try_from((newest - bucket) / self.step).ok()?;
        let index = self.values.len().checked_sub(1 + back)?;
        self.values.get(index).copied().filter(|v| !v.is_nan())
    }

    /// The bytes this ring holds (its values), for the memory bound.
    pub fn heap_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_fall_in_their_bucket() {
        let mut ring = Ring::new(10, 4);
        ring.set(1003, 1.0);
        ring.set(1009, 2.0);
        ring.set(1010, 3.0);
        assert_eq!(
            ring.points(),
            vec![(1000, 2.0), (1010, 3.0)],
            "the last value of a bucket is its value"
        );
        let mut counts = Ring::new(10, 4);
        counts.add(1001, 1.0);
        counts.add(1008, 2.0);
        counts.add(1012, 1.0);
        assert_eq!(
            counts.points(),
            vec![(1000, 3.0), (1010, 1.0)],
            "counts add up in their bucket"
        );
        let mut longest = Ring::new(10, 4);
        longest.max(1001, 3.0);
        longest.max(1002, 1.0);
        longest.max(1011, 0.5);
        assert_eq!(
            longest.points(),
            vec![(1000, 3.0), (1010, 0.5)],
            "the longest sample is the bucket's"
        );
        counts.add(1005, 4.0);
        assert_eq!(
            counts.points(),
            vec![(1000, 7.0), (1010, 1.0)],
            "a late count lands in its own bucket"
        );
    }

    #[test]
    fn the_ring_keeps_its_capacity_and_leaves_gaps() {
        let mut ring = Ring::new(10, 3);
        for i in 0..10 {
            ring.set(1000 + i * 10, i as f64);
        }
        assert_eq!(ring.points(), vec![(1070, 7.0), (1080, 8.0), (1090, 9.0)]);
        // Twenty seconds with no sample: one bucket has no point.
        ring.set(1110, 11.0);
        assert_eq!(ring.points(), vec![(1090, 9.0), (1110, 11.0)]);
        assert_eq!(ring.value_at(1100), None);
        assert_eq!(ring.value_at(1110), Some(11.0));
        // A gap longer than the ring: only the new point is left.
        ring.set(5000, 1.0);
        assert_eq!(ring.points(), vec![(5000, 1.0)]);
        // Older than what is kept: dropped.
        ring.set(100, 2.0);
        assert_eq!(ring.points(), vec![(5000, 1.0)]);
        assert_eq!(ring.points_since(5000), vec![(5000, 1.0)]);
        assert!(ring.points_since(5001).is_empty());
    }

    #[test]
    fn negative_times_bucket_downwards() {
        let ring = Ring::new(60, 2);
        assert_eq!(ring.bucket_of(-1), -60);
        assert_eq!(ring.bucket_of(59), 0);
    }
}

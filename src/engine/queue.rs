//! The future event list: a binary heap ordered by (time, insertion sequence).
//!
//! Two events at the same instant come out in the order they were scheduled. That rule, and
//! nothing else, decides ties, so a run never depends on heap internals or on memory addresses.

use super::time::SimTime;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

struct Entry<E> {
    time: SimTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (time, seq) on top.
    fn cmp(&self, other: &Self) -> Ordering {
        other.time.cmp(&self.time).then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Pending events, earliest first, ties in insertion order.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    lanes: Vec<VecDeque<Entry<E>>>,
    used: Vec<u32>,
    lane_len: usize,
    /// Earliest lane head (time, seq, lane), kept current.
    best: Option<(SimTime, u64, usize)>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue { heap: BinaryHeap::with_capacity(1024), next_seq: 0, lanes: Vec::new(), used: Vec::new(), lane_len: 0, best: None }
    }
    /// Pushes onto FIFO lane `lane`: the caller guarantees times pushed to one lane never
    /// decrease (a constant delay added to a monotonic clock). Ordering is unchanged: (time, seq).
    pub fn push_fifo(&mut self, lane: usize, time: SimTime, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.lanes.len() <= lane {
            self.lanes.resize_with(lane + 1, VecDeque::new);
        }
        if self.lanes[lane].capacity() == 0 {
            self.used.push(lane as u32);
            self.lanes[lane].reserve(64);
        }
        debug_assert!(self.lanes[lane].back().map_or(true, |b| b.time <= time));
        let was_empty = self.lanes[lane].is_empty();
        self.lanes[lane].push_back(Entry { time, seq, event });
        self.lane_len += 1;
        if was_empty && self.best.map_or(true, |(t, q, _)| (time, seq) < (t, q)) {
            self.best = Some((time, seq, lane));
        }
    }
    fn rescan(&mut self) {
        let mut best: Option<(SimTime, u64, usize)> = None;
        for &l in &self.used {
            if let Some(f) = self.lanes[l as usize].front() {
                if best.map_or(true, |(t, q, _)| (f.time, f.seq) < (t, q)) {
                    best = Some((f.time, f.seq, l as usize));
                }
            }
        }
        self.best = best;
    }
    pub fn push(&mut self, time: SimTime, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { time, seq, event });
    }
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if let Some((t, q, l)) = self.best {
            let heap_first = self.heap.peek().map_or(false, |h| (h.time, h.seq) < (t, q));
            if !heap_first {
                self.lane_len -= 1;
                let e = self.lanes[l].pop_front().expect("front");
                self.rescan();
                return Some((e.time, e.event));
            }
        }
        self.heap.pop().map(|e| (e.time, e.event))
    }
    pub fn peek_time(&self) -> Option<SimTime> {
        let h = self.heap.peek().map(|e| e.time);
        let l = self.best.map(|(t, _, _)| t);
        match (h, l) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    pub fn len(&self) -> usize {
        self.heap.len() + self.lane_len
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_ties_in_insertion_order() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), "c");
        q.push(SimTime(1), "a");
        q.push(SimTime(5), "d");
        q.push(SimTime(1), "b");
        q.push(SimTime(3), "x");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, vec!["a", "b", "x", "c", "d"]);
    }

    #[test]
    fn many_ties_keep_order() {
        let mut q = EventQueue::new();
        for i in 0..10_000u32 {
            q.push(SimTime(7), i);
        }
        for i in 0..10_000u32 {
            assert_eq!(q.pop().unwrap().1, i);
        }
    }
}

#[cfg(test)]
mod lane_tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Lanes change nothing in the order: a mix of heap and FIFO-lane pushes comes out exactly
    /// as the same pushes into the heap alone would, ties by insertion order.
    #[test]
    fn lanes_preserve_time_then_insertion_order() {
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(9);
        let mut mixed = EventQueue::new();
        let mut plain = EventQueue::new();
        let mut now = 0u64;
        let mut id = 0u32;
        for _ in 0..20_000 {
            if rng.gen_bool(0.4) {
                if let (Some((t1, a)), Some((t2, b))) = (mixed.pop(), plain.pop()) {
                    assert_eq!((t1, a), (t2, b));
                    now = t1.0;
                }
                continue;
            }
            let lane = rng.gen_range(0..4usize);
            let delay = [5u64, 5, 17, 3][lane];
            if rng.gen_bool(0.5) {
                mixed.push_fifo(lane, SimTime(now + delay), id);
            } else {
                let d = rng.gen_range(0..20);
                mixed.push(SimTime(now + d), id);
                plain.push(SimTime(now + d), id);
                id += 1;
                continue;
            }
            plain.push(SimTime(now + delay), id);
            id += 1;
        }
        while let Some(x) = plain.pop() {
            assert_eq!(mixed.pop(), Some(x));
        }
        assert!(mixed.is_empty());
    }
}

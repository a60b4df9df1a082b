//! A timer queue for the call engine: deadlines in a heap, cancellation by id.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// Identifies a scheduled timer.
pub type TimerId = u64;

/// Deadlines with payloads; cancelled timers are skipped lazily.
pub struct TimerQueue<T> {
    heap: BinaryHeap<Reverse<(Instant, TimerId)>>,
    live: HashMap<TimerId, T>,
    next: TimerId,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue { heap: BinaryHeap::new(), live: HashMap::new(), next: 1 }
    }
}

impl<T> TimerQueue<T> {
    /// Schedules `payload` at `at`.
    pub fn schedule(&mut self, at: Instant, payload: T) -> TimerId {
        let id = self.next;
        self.next += 1;
        self.heap.push(Reverse((at, id)));
        self.live.insert(id, payload);
        id
    }

    /// Cancels a timer (no-op if it fired already).
    pub fn cancel(&mut self, id: TimerId) {
        self.live.remove(&id);
    }

    /// The earliest live deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if self.live.contains_key(&id) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Pops one timer due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if let Some(p) = self.live.remove(&id) {
                return Some(p);
            }
        }
        None
    }

    /// Live timers.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

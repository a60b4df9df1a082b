//! The engine's randomness (tags, branches, Call-IDs, SDP session ids), from one generator per
//! thread: seeded from the operating system in production, with a fixed seed by the
//! simulation harness so that a run can be replayed exactly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;

thread_local! {
    static RNG: RefCell<StdRng> = RefCell::new(StdRng::from_os_rng());
}

/// Makes this thread's sequence deterministic (tests, simulation, fuzzing).
pub fn seed(seed: u64) {
    RNG.with(|r| *r.borrow_mut() = StdRng::seed_from_u64(seed));
}

/// A random `u64`.
pub fn u64() -> u64 {
    RNG.with(|r| r.borrow_mut().random())
}

/// A random `u32`.
pub fn u32() -> u32 {
    RNG.with(|r| r.borrow_mut().random())
}

/// A float in `[0, 1)`.
pub fn unit() -> f64 {
    RNG.with(|r| r.borrow_mut().random())
}

/// A value in `0..n` (0 when `n` is 0).
pub fn below(n: usize) -> usize {
    if n == 0 { 0 } else { RNG.with(|r| r.borrow_mut().random_range(0..n)) }
}

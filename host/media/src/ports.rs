//! The pool of RTP ports: even ports of the configured range, handed out round-robin so that
//! a port just released is not reused at once (late packets of the old call go nowhere).

/// Even RTP ports (RTCP is the odd port above each).
#[derive(Debug)]
pub struct PortPool {
    min: u16,
    used: Vec<bool>,
    cursor: usize,
    free: usize,
}

impl PortPool {
    /// A pool over `min..=max` (rounded to even RTP ports with room for RTCP).
    pub fn new(min: u16, max: u16) -> PortPool {
        let min = min + (min % 2);
        let count = if max > min { ((max - min) as usize).div_ceil(2) } else { 0 };
        PortPool { min, used: vec![false; count], cursor: 0, free: count }
    }

    /// Number of RTP ports in the pool.
    pub fn capacity(&self) -> usize {
        self.used.len()
    }

    /// Ports still free.
    pub fn free(&self) -> usize {
        self.free
    }

    /// Takes the next free even port.
    pub fn take(&mut self) -> Option<u16> {
        if self.free == 0 {
            return None;
        }
        for _ in 0..self.used.len() {
            let i = self.cursor;
            self.cursor = (self.cursor + 1) % self.used.len();
            if !self.used[i] {
                self.used[i] = true;
                self.free -= 1;
                return Some(self.min + (i as u16) * 2);
            }
        }
        None
    }

    /// Returns a port.
    pub fn give_back(&mut self, port: u16) {
        if port < self.min {
            return;
        }
        let i = ((port - self.min) / 2) as usize;
        if i < self.used.len() && self.used[i] {
            self.used[i] = false;
            self.free += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_even_ports() {
        let mut p = PortPool::new(20001, 20009);
        assert_eq!(p.capacity(), 4);
        assert_eq!(p.take(), Some(20002));
        assert_eq!(p.take(), Some(20004));
        p.give_back(20002);
        assert_eq!(p.take(), Some(20006));
        assert_eq!(p.take(), Some(20008));
        assert_eq!(p.take(), Some(20002));
        assert_eq!(p.take(), None);
        assert_eq!(p.free(), 0);
    }
}

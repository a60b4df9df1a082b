//! The engine's side of the media plane, sans-IO: it chooses session ids and RTP ports
//! itself (from its own pool) and queues [`MediaCommand`]s that the IO edge carries out. No
//! socket is bound and no lock is taken inside the state machine.

use pbx_media::ports::PortPool;
use pbx_media::{MediaCommand, MediaError, RemoteParams, SessionId, SessionPorts, Side, Source};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

/// Ports, ids and the queue of commands for the edge.
pub(super) struct MediaPlane {
    pool: PortPool,
    next_id: SessionId,
    ports: HashMap<SessionId, [u16; 2]>,
    queue: VecDeque<MediaCommand>,
}

impl MediaPlane {
    /// A plane over the RTP ports `min..=max`.
    pub(super) fn new(min: u16, max: u16) -> MediaPlane {
        MediaPlane { pool: PortPool::new(min, max), next_id: 1, ports: HashMap::new(), queue: VecDeque::new() }
    }

    /// The next command for the edge.
    pub(super) fn poll(&mut self) -> Option<MediaCommand> {
        self.queue.pop_front()
    }

    /// Live sessions.
    pub(super) fn sessions(&self) -> usize {
        self.ports.len()
    }

    /// RTP ports still free.
    pub(super) fn free_ports(&self) -> usize {
        self.pool.free()
    }

    /// A new session with two ports (one per leg).
    pub(super) fn create_session(&mut self) -> Result<SessionPorts, MediaError> {
        let a_port = self.pool.take().ok_or(MediaError::NoPorts)?;
        let Some(b_port) = self.pool.take() else {
            self.pool.give_back(a_port);
            return Err(MediaError::NoPorts);
        };
        let id = self.next_id;
        self.next_id += 1;
        self.ports.insert(id, [a_port, b_port]);
        self.queue.push_back(MediaCommand::Create { id, a_port, b_port });
        Ok(SessionPorts { id, a_port, b_port })
    }

    /// Where a leg's far end is.
    pub(super) fn set_remote(&mut self, id: SessionId, side: Side, remote: RemoteParams) {
        self.queue.push_back(MediaCommand::SetRemote { id, side, remote });
    }

    /// What the PBX sends to a leg.
    pub(super) fn set_source(&mut self, id: SessionId, side: Side, source: Source) {
        self.queue.push_back(MediaCommand::SetSource { id, side, source });
    }

    /// Starts or stops recording.
    pub(super) fn record(&mut self, id: SessionId, path: Option<PathBuf>) {
        self.queue.push_back(MediaCommand::Record { id, path });
    }

    /// In-band DTMF detection on a leg.
    pub(super) fn detect_inband(&mut self, id: SessionId, side: Side, on: bool) {
        self.queue.push_back(MediaCommand::Inband { id, side, on });
    }

    /// Ends a session; its ports go back to the pool (handed out again only after the pool
    /// has gone round once, so late packets of this call reach nobody).
    pub(super) fn destroy(&mut self, id: SessionId) {
        if let Some(ports) = self.ports.remove(&id) {
            for p in ports {
                self.pool.give_back(p);
            }
            self.queue.push_back(MediaCommand::Destroy { id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_back_on_destroy_and_exhaustion_is_an_error() {
        let mut m = MediaPlane::new(20000, 20007);
        let s = m.create_session().unwrap();
        let t = m.create_session().unwrap();
        assert!(matches!(m.create_session(), Err(MediaError::NoPorts)));
        m.destroy(s.id);
        assert_eq!(m.free_ports(), 2);
        let u = m.create_session().unwrap();
        assert_ne!(u.id, t.id);
        assert!(matches!(m.poll(), Some(MediaCommand::Create { .. })));
    }
}

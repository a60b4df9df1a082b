//! The call engine's media powers: the call timeline, answering the caller with the PBX's
//! own media, playing prompts and music (hold), recording, and the digits callers press.

use super::call::{CallKey, CallState, PlayPurpose};
use super::{Action, Engine, Now};
use pbx_media::dtmf::DtmfSource;
use pbx_media::prompt::Prompt;
use pbx_media::{SessionId, Side, Source};
use pbx_sip::header::HeaderName;
use pbx_sip::sdp::{self, Direction};
use pbx_store::CallOp;
use std::sync::Arc;

/// Most timeline events kept for one call.
const MAX_TIMELINE_EVENTS: i64 = 300;

impl Engine {
    /// Adds an event to a call's timeline.
    pub(super) fn timeline(&mut self, key: CallKey, kind: &str, detail: String, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        // A call's timeline is bounded (a peer pressing keys without end writes no more);
        // how it ended is always written.
        if call.event_seq >= MAX_TIMELINE_EVENTS && kind != "hangup" {
            return;
        }
        call.event_seq += 1;
        let op = CallOp::Event { id: call.uid.clone(), seq: call.event_seq, at: now.wall_ms, kind: kind.to_string(), detail };
        self.actions.push_back(Action::Cdr { op, ack: None });
    }

    fn next_token(&mut self) -> u64 {
        self.next_call += 1;
        self.next_call
    }

    /// Answers the caller with the PBX's own media (greeting, IVR), before any phone answers.
    pub(super) fn answer_caller_locally(&mut self, key: CallKey, now: Now) {
        let ip = self.cfg.public_ip;
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.a_answered || call.a_tx.is_none() {
            return;
        }
        // One codec (the caller's first) and telephone-event if offered.
        let chosen: Vec<sdp::Format> = {
            let f = &call.a_media.formats;
            let mut v: Vec<sdp::Format> = f.iter().filter(|x| !sdp::is_telephone_event(x)).take(1).cloned().collect();
            v.extend(f.iter().filter(|x| sdp::is_telephone_event(x)).take(1).cloned());
            v
        };
        call.a_media.formats = chosen.clone();
        call.a_answered = true;
        let sdp = sdp::build(
            call.a_media.session_id,
            call.a_media.version,
            ip,
            call.a_media.port,
            chosen.clone(),
            Direction::SendRecv,
            call.a_offer.as_ref(),
        );
        let mut ok = call.a_invite.response(200, "OK", Some(&call.a.local_tag));
        for rr in call.a_invite.headers.list(&HeaderName::RecordRoute) {
            ok.headers.push(HeaderName::RecordRoute, rr);
        }
        ok.headers.push(HeaderName::Contact, String::new());
        ok.headers.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE");
        ok.headers.push(HeaderName::ContentType, "application/sdp");
        ok.body = sdp.to_bytes();
        if let (Some(offer), false) = (&call.a_offer, call.late_offer) {
            let params = super::b2bua::remote_params(offer, call.a.flow.addr, &chosen);
            self.media.set_remote(call.media_id, Side::A, params);
        }
        self.send_to_caller(key, ok, now);
        self.timeline(key, "answered", "by the PBX".into(), now);
        self.notify(key, pbx_store::EventData::Answered { extension: None, by_pbx: true }, now);
    }

    /// Plays prompts to the caller; `purpose` says what happens when they end.
    pub(super) fn play_to_caller(&mut self, key: CallKey, prompts: Vec<Arc<Prompt>>, purpose: PlayPurpose, now: Now) {
        let token = self.next_token();
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.playing = Some((token, purpose));
        let id = call.media_id;
        let names: Vec<String> = prompts.iter().map(|p| p.name.clone()).collect();
        self.media.set_source(id, Side::A, Source::Play { items: prompts, token });
        self.timeline(key, "play", names.join(" "), now);
    }

    /// Prompts finished playing.
    pub(super) fn on_play_done(&mut self, id: SessionId, side: Side, token: u64, now: Now) {
        let Some(&key) = self.media_calls.get(&id) else { return };
        let _span = self.call_span(key).entered();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some((t, purpose)) = call.playing else { return };
        if t != token || side != Side::A {
            return;
        }
        call.playing = None;
        match purpose {
            PlayPurpose::Greeting => self.ring_targets(key, now),
            PlayPurpose::Farewell => self.hangup(key, super::call::HangupBy::System, "no one answered", now),
            PlayPurpose::AfterHours => self.hangup(key, super::call::HangupBy::System, "after hours", now),
            PlayPurpose::Scenario => self.scenario_play_done(key, now),
            PlayPurpose::QueueAnnounce => self.queue_announce_done(key),
        }
    }

    /// A key pressed on a leg (RFC 4733, INFO or in-band).
    pub(super) fn on_dtmf(&mut self, key: CallKey, side: Side, digit: char, source: DtmfSource, now: Now) {
        let _span = self.call_span(key).entered();
        tracing::info!(?side, %digit, source = source.as_str(), "digit");
        let who = if side == Side::A { "caller" } else { "callee" };
        self.timeline(key, "dtmf", format!("{digit} {} {who}", source.as_str()), now);
        if self.transfer_digit(key, side, digit, now) {
            return;
        }
        if side == Side::A && !self.queue_digit(key, digit, now) {
            self.gather_digit(key, digit, now);
        }
    }

    /// Starts recording an answered call if the tenant records its direction.
    pub(super) fn start_recording(&mut self, key: CallKey, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.recording || !call.tenant.recording.iter().any(|d| d == call.direction.as_str()) {
            return;
        }
        let Some(data_dir) = self.cfg.data_dir.clone() else { return };
        call.recording = true;
        let (y, m, d) = crate::cli::civil_date(now.wall_ms);
        let path = data_dir
            .join("tenants")
            .join(call.tenant.id.to_string())
            .join("recordings")
            .join(format!("{y:04}"))
            .join(format!("{m:02}"))
            .join(format!("{d:02}"))
            .join(format!("{}.wav", call.uid));
        let (id, uid, tenant_id) = (call.media_id, call.uid.clone(), call.tenant.id);
        self.media.record(id, Some(path.clone()));
        self.recording_sessions.insert(id, (uid.clone(), None));
        self.actions.push_back(Action::Cdr {
            op: CallOp::Recording { id: uid, tenant_id, path: path.display().to_string(), at: now.wall_ms },
            ack: None,
        });
        self.timeline(key, "recording", "started".into(), now);
    }

    /// A recording's interim file is complete: hand it to storage to compress.
    pub(super) fn on_recording_done(&mut self, id: SessionId, path: std::path::PathBuf, duration_ms: u64) {
        if let Some((uid, event)) = self.recording_sessions.remove(&id) {
            self.actions.push_back(Action::RecordingDone { call_id: uid, path, duration_ms, event });
        }
    }

    /// Media once a phone answered: bridge the legs, start recording.
    pub(super) fn on_bridged(&mut self, key: CallKey, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let id = call.media_id;
        call.playing = None;
        self.media.set_source(id, Side::A, Source::Peer);
        self.media.set_source(id, Side::B, Source::Peer);
        self.timeline(key, "answered", String::new(), now);
        self.start_recording(key, now);
    }

    /// The tenant's music on hold (its own upload, else the built-in track).
    pub(super) fn hold_music(&self, tenant: &super::directory::TenantInfo) -> Option<Arc<Prompt>> {
        self.dir.prompt(tenant, &tenant.moh_prompt).or_else(|| pbx_media::prompt::builtin(&tenant.language, "music"))
    }

    /// A side put the call on hold or took it off: the other side hears music meanwhile.
    pub(super) fn on_hold_change(&mut self, key: CallKey, side: Side, direction: Direction, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.state != CallState::Answered {
            return;
        }
        let holding = !direction.receives();
        let i = side as usize;
        if call.held[i] == holding {
            return;
        }
        call.held[i] = holding;
        let id = call.media_id;
        let other = side.other();
        let tenant = call.tenant.clone();
        let who = if side == Side::A { "caller" } else { "callee" };
        if holding {
            if let Some(m) = self.hold_music(&tenant) {
                self.media.set_source(id, other, Source::Loop(m));
            }
            self.timeline(key, "hold", who.into(), now);
        } else {
            self.media.set_source(id, other, Source::Peer);
            self.timeline(key, "resume", who.into(), now);
        }
    }
}

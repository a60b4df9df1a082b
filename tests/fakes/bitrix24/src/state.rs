//! The portal's memory: tokens, lines, calls, statistics, bound events and the
//! log of everything that reached it. One `std::sync::Mutex` guards it, so the
//! control handle works from sync test code too.

use crate::options::{CrmEntity, Options, User};
use md5::{Digest, Md5};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

/// How a REST call authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthKind {
    /// No `auth` parameter and no webhook path.
    None,
    /// An OAuth access token in the `auth` parameter (query or body).
    OAuth {
        /// The token as sent.
        access_token: String,
    },
    /// An inbound webhook path `/rest/{user_id}/{secret}/`.
    Webhook {
        /// The user id in the path.
        user_id: u64,
        /// The secret in the path.
        secret: String,
    },
}

/// How the parameters of a REST call were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (query string only).
    None,
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded` (or a body without a content type).
    Form,
    /// `multipart/form-data`.
    Multipart,
    /// Some other content type, whose body was ignored.
    Other(String),
    /// A `cmd` entry inside a `batch` call.
    BatchCommand,
}

/// One REST call as the portal saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Method name, lower-cased, without `.json`.
    pub method: String,
    /// Query and body parameters merged (body wins), `auth` removed.
    pub params: Value,
    /// How the call authenticated.
    pub auth: AuthKind,
    /// How the parameters arrived.
    pub body: BodyKind,
    /// The HTTP status answered (for batch commands: the status the call would have had).
    pub status: u16,
    /// The `error` code answered, when it was an error.
    pub error: Option<String>,
    /// True for a command run inside `batch`.
    pub in_batch: bool,
    /// When it arrived (unix seconds on the portal's clock).
    pub at: f64,
}

/// Who owns a line or a call: the OAuth app, or webhooks (which have no app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The local app (OAuth).
    App,
    /// Inbound webhooks (`REST_APP_ID` is empty).
    Webhook,
}

/// An external line (`telephony.externalLine.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The line's ID.
    pub id: u64,
    /// The line number (`NUMBER`).
    pub number: String,
    /// The line's name.
    pub name: String,
    /// `Y` or `N`.
    pub crm_auto_create: String,
    /// Whose line it is.
    pub owner: Owner,
    /// True when `register` created it for an unknown `LINE_NUMBER`.
    pub auto_created: bool,
}

/// Showing or hiding the call card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    /// The card was shown.
    Show,
    /// The card was hidden.
    Hide,
}

/// One change of who sees a call card.
#[derive(Debug, Clone, PartialEq)]
pub struct CardChange {
    /// When (portal clock).
    pub at: f64,
    /// Show or hide.
    pub action: CardAction,
    /// The users named in the change.
    pub users: Vec<u64>,
    /// Who sees the card afterwards.
    pub shown_after: Vec<u64>,
}

/// The statistics record `finish` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishRecord {
    /// Statistics `ID`.
    pub id: u64,
    /// `PORTAL_USER_ID`.
    pub user_id: u64,
    /// `CALL_DURATION`.
    pub duration: i64,
    /// `CALL_FAILED_CODE` (the effective `STATUS_CODE`).
    pub status_code: String,
    /// `CALL_STATUS` (1 if the duration was > 0).
    pub call_status: u8,
    /// `COST`.
    pub cost: f64,
    /// `COST_CURRENCY`.
    pub cost_currency: String,
    /// `CALL_VOTE`.
    pub vote: i64,
    /// `CALL_FAILED_REASON`.
    pub failed_reason: String,
    /// `ADD_TO_CHAT`.
    pub add_to_chat: bool,
    /// The deprecated `RECORD_URL` of `finish`, if sent.
    pub record_url: Option<String>,
    /// When (portal clock).
    pub at: f64,
    /// The `result` answered.
    pub response: Value,
}

/// Where an attached record came from.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordSource {
    /// Downloaded by the portal from `RECORD_URL`.
    Url(String),
    /// Sent as base64 in `FILE_CONTENT`.
    Base64,
    /// Uploaded to the `uploadUrl` as multipart.
    Upload,
}

/// A record attached to a finished call.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachedRecord {
    /// `FILE_ID` answered.
    pub file_id: u64,
    /// The file's name.
    pub file_name: String,
    /// How it arrived.
    pub source: RecordSource,
    /// Content type, when known (download or upload part).
    pub content_type: Option<String>,
    /// The file's bytes.
    pub data: Vec<u8>,
}

/// A call the portal knows (registered, maybe finished).
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalCall {
    /// `CALL_ID` (`externalCall.<md5>.<unixtime>`).
    pub call_id: String,
    /// `EXTERNAL_CALL_ID` as registered.
    pub external_call_id: Option<String>,
    /// The registering user.
    pub user_id: u64,
    /// The client's number, letters stripped.
    pub phone_number: String,
    /// `TYPE` (1 out, 2 in, 3 in+redirect, 4 callback, 5 info).
    pub call_type: u8,
    /// `LINE_NUMBER`, when one was given.
    pub line_number: Option<String>,
    /// `CALL_START_DATE` (unix seconds; registration time if not given).
    pub call_start_date: i64,
    /// `SHOW` as registered.
    pub show: bool,
    /// `CRM_CREATE` as registered.
    pub crm_create: bool,
    /// Primary CRM entity (type, id).
    pub crm_entity: Option<(String, u64)>,
    /// The lead created for the call.
    pub created_lead: Option<u64>,
    /// True when PHONE_NUMBER is an active user's extension.
    pub internal: bool,
    /// The user whose extension PHONE_NUMBER is, for internal calls.
    pub portal_user_id: Option<u64>,
    /// Whose call it is.
    pub owner: Owner,
    /// True when the portal registered it itself before `ONEXTERNALCALLSTART`.
    pub pre_registered: bool,
    /// How many `register` calls answered this CALL_ID (more than 1 = deduplicated).
    pub register_count: u32,
    /// Who sees the card now.
    pub shown_to: BTreeSet<u64>,
    /// Every show and hide, in order.
    pub card_history: Vec<CardChange>,
    /// The statistics record, once finished.
    pub finish: Option<FinishRecord>,
    /// Records attached, oldest first; the last one is current.
    pub records: Vec<AttachedRecord>,
}

/// One download the portal made for `attachRecord` with `RECORD_URL`.
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    /// The call the record was for.
    pub call_id: String,
    /// The URL fetched.
    pub url: String,
    /// HTTP status, if a response came.
    pub status: Option<u16>,
    /// `Content-Type` of the response.
    pub content_type: Option<String>,
    /// Body length.
    pub bytes: usize,
    /// Transport error, if no response came.
    pub error: Option<String>,
}

/// An `event.bind` subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundEvent {
    /// `event_handler_id` sent with each event.
    pub id: u64,
    /// Event name, upper-cased.
    pub event: String,
    /// Handler URL.
    pub handler: String,
    /// `auth_type` (0 = the user who caused the event).
    pub auth_type: u64,
}

/// One POST the portal made to an app (event or installation callback).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Event name.
    pub event: String,
    /// URL posted to.
    pub url: String,
    /// The form pairs sent.
    pub form: Vec<(String, String)>,
    /// The handler's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Transport error, if it didn't.
    pub error: Option<String>,
}

/// An access token the portal issued.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub expires_at: f64,
    pub user_id: u64,
}

/// Everything mutable, behind the portal's mutex.
pub(crate) struct State {
    pub opts: Options,
    pub clock_offset: f64,
    pub down: bool,
    pub users: Vec<User>,
    pub crm: Vec<CrmEntity>,
    pub access_tokens: HashMap<String, TokenInfo>,
    pub refresh_tokens: HashMap<String, f64>,
    pub latest_tokens: (String, String),
    pub bucket_level: f64,
    pub bucket_at: f64,
    pub requests: Vec<Recorded>,
    pub calls: Vec<ExternalCall>,
    pub lines: Vec<Line>,
    pub events: Vec<BoundEvent>,
    pub deliveries: Vec<Delivery>,
    pub downloads: Vec<Download>,
    pub upload_tokens: HashMap<String, String>,
    seq: u64,
    pub next_line_id: u64,
    pub next_stat_id: u64,
    pub next_file_id: u64,
    pub next_lead_id: u64,
    pub next_activity_id: u64,
    pub next_handler_id: u64,
}

impl State {
    /// A fresh portal holding the configured token pair.
    pub fn new(opts: Options) -> Self {
        let mut st = State {
            users: opts.users.clone(),
            crm: opts.crm.clone(),
            clock_offset: 0.0,
            down: false,
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            latest_tokens: (opts.access_token.clone(), opts.refresh_token.clone()),
            bucket_level: 0.0,
            bucket_at: 0.0,
            requests: Vec::new(),
            calls: Vec::new(),
            lines: Vec::new(),
            events: Vec::new(),
            deliveries: Vec::new(),
            downloads: Vec::new(),
            upload_tokens: HashMap::new(),
            seq: 0,
            next_line_id: 1,
            next_stat_id: 1,
            next_file_id: 9000,
            next_lead_id: 5000,
            next_activity_id: 7000,
            next_handler_id: 1000,
            opts,
        };
        let now = st.now();
        st.bucket_at = now;
        let access = st.opts.access_token.clone();
        let refresh = st.opts.refresh_token.clone();
        let user = st.opts.token_user_id;
        st.access_tokens.insert(access, TokenInfo { expires_at: now + st.opts.access_token_lifetime.as_secs_f64(), user_id: user });
        st.refresh_tokens.insert(refresh, now + st.opts.refresh_token_lifetime.as_secs_f64());
        st
    }

    /// The portal's clock: wall time plus whatever the test advanced it by.
    pub fn now(&self) -> f64 {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        wall + self.clock_offset
    }

    /// A fresh 32-hex-digit token.
    pub fn random_hex(&mut self, salt: &str) -> String {
        self.seq += 1;
        let mut h = Md5::new();
        h.update(format!("{salt}|{}|{}|{}", self.seq, self.now(), self.opts.member_id));
        hex(&h.finalize())
    }

    /// Issues a new access/refresh pair for `user_id`; `latest` makes it the app's current pair.
    pub fn issue_tokens(&mut self, user_id: u64, latest: bool) -> (String, String) {
        let access = self.random_hex("access");
        let refresh = self.random_hex("refresh");
        let now = self.now();
        self.access_tokens.insert(access.clone(), TokenInfo { expires_at: now + self.opts.access_token_lifetime.as_secs_f64(), user_id });
        self.refresh_tokens.insert(refresh.clone(), now + self.opts.refresh_token_lifetime.as_secs_f64());
        if latest {
            self.latest_tokens = (access.clone(), refresh.clone());
        }
        (access, refresh)
    }

    /// The user with this id.
    pub fn user(&self, id: u64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// An active user whose extension is `inner` (the portal's `getUserByPhone`).
    pub fn user_by_inner(&self, inner: &str) -> Option<u64> {
        self.users.iter().find(|u| u.active && u.uf_phone_inner.as_deref() == Some(inner)).map(|u| u.id)
    }

    /// The active (not finished) call with this id.
    pub fn active_call_mut(&mut self, call_id: &str) -> Option<&mut ExternalCall> {
        self.calls.iter_mut().find(|c| c.call_id == call_id && c.finish.is_none())
    }

    /// The finished call with this id (the statistics table).
    pub fn finished_call_mut(&mut self, call_id: &str) -> Option<&mut ExternalCall> {
        self.calls.iter_mut().find(|c| c.call_id == call_id && c.finish.is_some())
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digits of a phone number, for matching CRM phones.
pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

//! A fake Bitrix24 portal for the PBX's tests, following the public
//! external-telephony REST contract (`shared/bitrix24-contract.md`, section 5).
//!
//! [`FakePortal::start`] binds `127.0.0.1:0` on the caller's tokio runtime and serves:
//! - `{base}/rest/{method}[.json]` with `auth` as a query or body parameter (JSON,
//!   PHP-style form, or multipart body), and `{base}/rest/{user_id}/{secret}/{method}`
//!   for inbound webhooks;
//! - `{base}/oauth/token/` (`grant_type=refresh_token`), the OAuth server;
//! - the `uploadUrl` of `attachRecord` (`{base}/rest/upload.json?...`).
//!
//! The portal posts to the app (installation callback, bound events) with
//! [`FakePortal::install`], [`FakePortal::send_event`], [`FakePortal::start_click_to_call`]
//! and [`FakePortal::start_callback`]: form-encoded, string values, one attempt.
//!
//! Choices where the contract leaves room, so tests know what they get:
//! - **Down** ([`FakePortal::set_down`]): every `/rest/` request gets what an nginx
//!   load balancer in front of a dead PHP backend sends: HTTP 503 with an HTML page
//!   (not the JSON envelope). The OAuth server, a different host in real life, stays up.
//! - **Errors** a method raises without a code carry `ERROR_CORE`, as the docs say;
//!   [`Options::empty_core_error_code`] sends `""` as the live portal was seen to.
//!   `finish` of an unknown call says `Call is not found (call should be registered
//!   prior to finishing` — without the closing parenthesis, exactly as the portal's
//!   source, its docs and issue 175 have it.
//! - **Auth**: a missing or unknown token, or a wrong webhook secret, is 401
//!   `NO_AUTH_FOUND`; an expired token 401 `expired_token`; a webhook whose user is
//!   deactivated 403 `INVALID_CREDENTIALS` (the docs' meaning: the user lacks rights).
//!   `event.bind`, `event.get` and `app.info` refuse webhooks with 403 `ACCESS_DENIED`.
//! - **Rate limit**: the bucket drains on the portal's clock, so
//!   [`FakePortal::advance_clock`] drains it too; refused requests don't fill it.
//!   `/oauth/token/` is not limited.
//! - **Clock**: the portal's "now" is wall time plus what [`FakePortal::advance_clock`]
//!   added; dedup windows, token expiry and the bucket all use it.
//! - **attachRecord**: the extension check is PHP's, case-sensitive (`.MP3` is refused),
//!   and in `RECORD_URL` mode it runs on `FILENAME` (or the URL's file name) after the
//!   download; a transport failure reads `NETWORK: <error>`.
//! - `finish` answers `CALL_START_DATE` as `{}` (a PHP object, as in the docs' example);
//!   the deprecated `RECORD_URL` of `finish` is stored, not downloaded.
//! - Installing ([`FakePortal::install`]) removes bound handlers, as the docs warn.

mod auth;
mod batch;
pub mod client;
mod envelope;
mod events;
mod form;
mod limits;
mod methods;
mod multipart;
mod oauth;
mod options;
mod params;
mod server;
mod state;
mod timefmt;

pub use events::{Callback, ClickToCall};
pub use options::{CrmEntity, CrmEntityType, Options, RateLimit, User, Webhook};
pub use state::{
    AttachedRecord, AuthKind, BodyKind, BoundEvent, CardAction, CardChange, Delivery, Download, ExternalCall, FinishRecord, Line, Owner,
    RecordSource, Recorded,
};

use server::Shared;
use state::State;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// A running fake portal and its control handle; dropping it stops the server.
pub struct FakePortal {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl FakePortal {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime.
    pub async fn start(options: Options) -> std::io::Result<FakePortal> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { state: std::sync::Mutex::new(State::new(options)), base_url: format!("http://{addr}") });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(FakePortal { shared, stop: Some(stop) })
    }

    /// `http://127.0.0.1:PORT`, the portal's address.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `{base}/rest/`, the `client_endpoint` apps call methods on.
    pub fn rest_url(&self) -> String {
        format!("{}/rest/", self.shared.base_url)
    }

    /// `{base}/rest/{user_id}/{secret}/`, an inbound webhook's endpoint.
    pub fn webhook_url(&self, user_id: u64, secret: &str) -> String {
        format!("{}/rest/{user_id}/{secret}/", self.shared.base_url)
    }

    /// `{base}/oauth/token/`, the OAuth server's token endpoint.
    pub fn oauth_url(&self) -> String {
        format!("{}/oauth/token/", self.shared.base_url)
    }

    /// The options the portal started with.
    pub fn options(&self) -> Options {
        self.shared.lock().opts.clone()
    }

    /// The app's current token pair (from the options, the last refresh, or the last install).
    pub fn tokens(&self) -> (String, String) {
        self.shared.lock().latest_tokens.clone()
    }

    /// Takes the portal down (503 HTML page on every REST call) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.shared.lock().down = down;
    }

    /// Expires every access token issued so far (refresh tokens stay valid).
    pub fn expire_tokens(&self) {
        let mut st = self.shared.lock();
        let now = st.now();
        for t in st.access_tokens.values_mut() {
            t.expires_at = now;
        }
    }

    /// Moves the portal's clock forward (dedup window, token lifetime, bucket drain).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.lock().clock_offset += by.as_secs_f64();
    }

    /// The portal's clock, unix seconds.
    pub fn now(&self) -> f64 {
        self.shared.lock().now()
    }

    /// Activates or deactivates a user.
    pub fn set_user_active(&self, user_id: u64, active: bool) {
        if let Some(u) = self.shared.lock().users.iter_mut().find(|u| u.id == user_id) {
            u.active = active;
        }
    }

    /// Every REST call so far (batch commands too, flagged `in_batch`).
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the logged REST calls.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Every call registered (finished ones included).
    pub fn calls(&self) -> Vec<ExternalCall> {
        self.shared.lock().calls.clone()
    }

    /// One call by CALL_ID.
    pub fn call(&self, call_id: &str) -> Option<ExternalCall> {
        self.shared.lock().calls.iter().find(|c| c.call_id == call_id).cloned()
    }

    /// Every external line (the app's and webhooks').
    pub fn lines(&self) -> Vec<Line> {
        self.shared.lock().lines.clone()
    }

    /// The handlers bound with `event.bind`.
    pub fn bound_events(&self) -> Vec<BoundEvent> {
        self.shared.lock().events.clone()
    }

    /// Every download `attachRecord` made for `RECORD_URL`.
    pub fn attach_downloads(&self) -> Vec<Download> {
        self.shared.lock().downloads.clone()
    }

    /// Every POST the portal made to the app (events and installation callbacks).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.clone()
    }

    /// Posts the local-app installation callback (`ONAPPINSTALL` form with a fresh
    /// `auth[...]` token pair) to the app's installation path; returns its HTTP status.
    pub async fn install(&self, url: &str) -> Result<u16, String> {
        events::install(&self.shared, url).await
    }

    /// Posts `event` with `data` (keys may be PHP-style, e.g. `LIST[0]`) to the handlers
    /// bound for it, once; returns the first handler's HTTP status. Sent as given: for a
    /// realistic `ONEXTERNALCALLSTART` (call pre-registered first) use `start_click_to_call`.
    pub async fn send_event(&self, name: &str, data: &[(&str, &str)], with_access_token: bool) -> Result<u16, String> {
        let mut p = params::Param::empty();
        for (k, v) in data {
            form::insert(&mut p, k, params::Param::Str((*v).to_string()));
        }
        events::deliver(&self.shared, name, &p, with_access_token).await
    }

    /// A user clicks `phone` in the CRM: the portal pre-registers the call, then sends
    /// `ONEXTERNALCALLSTART`; returns the handler's status and the CALL_ID.
    pub async fn start_click_to_call(&self, user_id: u64, phone: &str, line: &str) -> Result<(u16, String), String> {
        events::click_to_call(&self.shared, &ClickToCall::new(user_id, phone, line)).await
    }

    /// [`FakePortal::start_click_to_call`] with every field of the event chosen.
    pub async fn start_click_to_call_with(&self, c: &ClickToCall) -> Result<(u16, String), String> {
        events::click_to_call(&self.shared, c).await
    }

    /// A website visitor asks for a callback: sends `ONEXTERNALCALLBACKSTART`.
    pub async fn start_callback(&self, phone: &str, text: &str, line: &str) -> Result<u16, String> {
        events::callback(&self.shared, &Callback::new(phone, text, line)).await
    }

    /// [`FakePortal::start_callback`] with every field of the event chosen.
    pub async fn start_callback_with(&self, c: &Callback) -> Result<u16, String> {
        events::callback(&self.shared, c).await
    }
}

impl Drop for FakePortal {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

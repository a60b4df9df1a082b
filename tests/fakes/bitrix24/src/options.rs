//! What a test can set up before starting a portal: its identity, the app's
//! credentials, users, CRM records, webhooks and the behaviours that are optional.

use std::time::Duration;

/// How a portal is set up; `Options::default()` is a small working portal.
#[derive(Debug, Clone)]
pub struct Options {
    /// The portal's domain as it appears in `auth[domain]` (e.g. `test.bitrix24.ru`).
    pub domain: String,
    /// The portal's `member_id`, stable across domain changes.
    pub member_id: String,
    /// The app's `application_token`, the only sender authentication of events.
    pub application_token: String,
    /// The local app's `client_id`, checked by the OAuth server.
    pub client_id: String,
    /// The local app's `client_secret`, checked by the OAuth server.
    pub client_secret: String,
    /// The app's name, returned as `REST_APP_NAME` by `finish`.
    pub app_name: String,
    /// The app's status letter (`L` local, `F` free, `S` subscription).
    pub app_status: String,
    /// The app's scopes, comma-separated, as the OAuth server returns them.
    pub scope: String,
    /// An access token that is valid from the start.
    pub access_token: String,
    /// The refresh token paired with `access_token`.
    pub refresh_token: String,
    /// The user the app's tokens act as (the installing admin).
    pub token_user_id: u64,
    /// How long an access token lives (real portals: one hour).
    pub access_token_lifetime: Duration,
    /// How long a refresh token lives (real portals: 180 days).
    pub refresh_token_lifetime: Duration,
    /// The portal's employees.
    pub users: Vec<User>,
    /// CRM contacts, companies and leads that `searchCrmEntities` and `register` find by phone.
    pub crm: Vec<CrmEntity>,
    /// Inbound webhooks (`/rest/{user_id}/{secret}/`).
    pub webhooks: Vec<Webhook>,
    /// Refuse webhook auth on `register`, `finish` and `externalLine.*` with 403 `WRONG_AUTH_TYPE`,
    /// as the docs say (the portal's source accepts webhooks there).
    pub strict_auth_type: bool,
    /// The leaky bucket in front of the REST API; `None` turns it off.
    pub rate_limit: Option<RateLimit>,
    /// Send `"error": ""` instead of `"ERROR_CORE"` for method errors, as the live portal was
    /// seen doing (b24-rest-docs issue 175); the docs say `ERROR_CORE`.
    pub empty_core_error_code: bool,
    /// When set, lead auto-creation fails with this `LEAD_CREATION_ERROR` text.
    pub lead_creation_error: Option<String>,
    /// When false, `searchCrmEntities` answers `CRM is not installed.`.
    pub crm_installed: bool,
    /// The OAuth server's own domain, which its token answers put in `domain`.
    pub oauth_server_domain: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            domain: "test.bitrix24.ru".to_string(),
            member_id: "a223c6b3710f85df22e9377d6c4f7553".to_string(),
            application_token: "51856fefc120afa4b628cc82d3935cce".to_string(),
            client_id: "local.6650a1b2c3d4e5.12345678".to_string(),
            client_secret: "LJSl0lNB76B5YY6u0YVQ3AW0DrVADcRTwVr4y99PXU1BWQybWK".to_string(),
            app_name: "PBX".to_string(),
            app_status: "L".to_string(),
            scope: "telephony,user,crm".to_string(),
            access_token: "s1morf609228iwyjjpvfv6wsvuja4p8u".to_string(),
            refresh_token: "4f9k4jpmg13usmybzuqknt2v9fh0q6rl".to_string(),
            token_user_id: 1,
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(180 * 86_400),
            users: vec![User::new(1, "Admin", Some("100"))],
            crm: Vec::new(),
            webhooks: Vec::new(),
            strict_auth_type: false,
            rate_limit: None,
            empty_core_error_code: false,
            lead_creation_error: None,
            crm_installed: true,
            oauth_server_domain: "oauth.bitrix24.tech".to_string(),
        }
    }
}

/// A portal employee.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The user's `ID`.
    pub id: u64,
    /// First name.
    pub name: String,
    /// Last name.
    pub last_name: String,
    /// Deactivated users can't take calls (`User is not found or is not active`).
    pub active: bool,
    /// The internal extension (`UF_PHONE_INNER`), which maps users to PBX extensions.
    pub uf_phone_inner: Option<String>,
    /// `PERSONAL_MOBILE`, shown in `searchCrmEntities`' `ASSIGNED_BY`.
    pub personal_mobile: Option<String>,
}

impl User {
    /// An active user with an optional extension.
    pub fn new(id: u64, name: &str, uf_phone_inner: Option<&str>) -> Self {
        User {
            id,
            name: name.to_string(),
            last_name: String::new(),
            active: true,
            uf_phone_inner: uf_phone_inner.map(str::to_string),
            personal_mobile: None,
        }
    }

    /// The same user, deactivated.
    pub fn inactive(mut self) -> Self {
        self.active = false;
        self
    }
}

/// The three CRM entity types telephony links calls to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrmEntityType {
    /// A contact.
    Contact,
    /// A company.
    Company,
    /// A lead.
    Lead,
}

impl CrmEntityType {
    /// The name the API uses (`CONTACT`, `COMPANY`, `LEAD`).
    pub fn as_str(self) -> &'static str {
        match self {
            CrmEntityType::Contact => "CONTACT",
            CrmEntityType::Company => "COMPANY",
            CrmEntityType::Lead => "LEAD",
        }
    }
}

/// A CRM record with phone numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmEntity {
    /// CONTACT, COMPANY or LEAD.
    pub entity_type: CrmEntityType,
    /// The entity's ID.
    pub id: u64,
    /// Name or title.
    pub name: String,
    /// Phone numbers; matched on their digits.
    pub phones: Vec<String>,
    /// The responsible user (`ASSIGNED_BY_ID`).
    pub assigned_by_id: u64,
}

impl CrmEntity {
    /// A CRM record with one phone number.
    pub fn new(entity_type: CrmEntityType, id: u64, name: &str, phone: &str, assigned_by_id: u64) -> Self {
        CrmEntity { entity_type, id, name: name.to_string(), phones: vec![phone.to_string()], assigned_by_id }
    }
}

/// An inbound webhook: acts as `user_id` when the URL carries `secret`.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// The user the webhook acts as.
    pub user_id: u64,
    /// The secret code in the URL.
    pub secret: String,
}

/// Leaky-bucket limits: each request adds one, the bucket drains `per_second`,
/// and a request that would take it over `burst` gets 503 `QUERY_LIMIT_EXCEEDED`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Drain rate (requests per second).
    pub per_second: f64,
    /// Bucket size.
    pub burst: f64,
}

impl RateLimit {
    /// Non-Enterprise plans: 2 req/s, burst 50.
    pub const STANDARD: RateLimit = RateLimit { per_second: 2.0, burst: 50.0 };
    /// Enterprise plans: 5 req/s, burst 250.
    pub const ENTERPRISE: RateLimit = RateLimit { per_second: 5.0, burst: 250.0 };
}

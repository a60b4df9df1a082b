//! Who is calling: an OAuth access token (the app), an inbound webhook, or nobody.

use crate::envelope::RestError;
use crate::state::{AuthKind, Owner, State};

/// The caller of a REST method, once authenticated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AuthCtx {
    /// How the call authenticated.
    pub kind: AuthKind,
    /// The app, or webhooks.
    pub owner: Owner,
    /// The user the call acts as.
    pub user_id: u64,
}

impl AuthCtx {
    /// True for webhook auth (no application context).
    pub fn is_webhook(&self) -> bool {
        self.owner == Owner::Webhook
    }
}

/// What the request carried, before checking it.
pub(crate) fn auth_kind(webhook: Option<(&str, &str)>, token: Option<&str>) -> AuthKind {
    if let Some((uid, secret)) = webhook {
        return AuthKind::Webhook { user_id: uid.parse().unwrap_or(0), secret: secret.to_string() };
    }
    match token {
        Some(t) if !t.is_empty() => AuthKind::OAuth { access_token: t.to_string() },
        _ => AuthKind::None,
    }
}

/// Checks the credentials: 401 `NO_AUTH_FOUND` for missing or unknown ones,
/// 401 `expired_token` for an expired access token, 403 `INVALID_CREDENTIALS`
/// for a webhook whose user is missing or deactivated.
pub(crate) fn authenticate(st: &State, kind: &AuthKind) -> Result<AuthCtx, RestError> {
    match kind {
        AuthKind::None => Err(RestError::no_auth()),
        AuthKind::Webhook { user_id, secret } => {
            let known = st.opts.webhooks.iter().any(|w| w.user_id == *user_id && w.secret == *secret);
            if !known {
                return Err(RestError::no_auth());
            }
            if !st.user(*user_id).is_some_and(|u| u.active) {
                return Err(RestError::invalid_credentials());
            }
            Ok(AuthCtx { kind: kind.clone(), owner: Owner::Webhook, user_id: *user_id })
        }
        AuthKind::OAuth { access_token } => {
            let info = st.access_tokens.get(access_token).ok_or_else(RestError::no_auth)?;
            if st.now() >= info.expires_at {
                return Err(RestError::expired_token());
            }
            Ok(AuthCtx { kind: kind.clone(), owner: Owner::App, user_id: info.user_id })
        }
    }
}

//! A tenant's settings of a plugin (for an integration: the CRM's address, an account, a
//! key), validated against the plugin's schema (`config-schema`) with a complete JSON Schema
//! implementation, and given to the plugin as its `config()`. Properties the schema marks
//! `"writeOnly": true` are secrets: sealed with the operator's key (XChaCha20-Poly1305,
//! `PBX_SECRET_KEY` or `secret.key` in the data directory) before they are stored, never
//! returned by the API or the CLI, only reported as set.
//!
//! The service the API and the CLI share.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use pbx_store::{Store, StoreError};
use serde_json::{Map, Value};

/// Largest settings object accepted (bytes of JSON).
pub const MAX_SETTINGS_BYTES: usize = 64 << 10;

/// Seals and opens secrets with the operator's key.
#[derive(Clone)]
pub struct SecretBox {
    key: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// They break the plugin's schema or a rule (the message says where).
    #[error("{0}")]
    Invalid(String),
    /// Stored secrets cannot be opened (another operator key).
    #[error("the stored secrets cannot be opened with this server's key")]
    Sealed,
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SecretBox {
    /// The box of the operator's key (made in the data directory on first use).
    pub fn open_dir(data_dir: &std::path::Path) -> Result<SecretBox, String> {
        Ok(SecretBox { key: crate::keys::load_or_create(data_dir, "secret.key", "PBX_SECRET_KEY")? })
    }

    /// A box over a given key (tests).
    pub fn with_key(key: [u8; 32]) -> SecretBox {
        SecretBox { key }
    }

    /// Seals `plain`: base64 of a random nonce and the ciphertext.
    pub fn seal(&self, plain: &[u8]) -> Result<String, SettingsError> {
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let ct = cipher.encrypt(&nonce, plain).map_err(|_| SettingsError::Sealed)?;
        let mut out = nonce_bytes.to_vec();
        out.extend(ct);
        Ok(STANDARD.encode(out))
    }

    /// Opens what [`SecretBox::seal`] made.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SettingsError> {
        let raw = STANDARD.decode(sealed.trim()).map_err(|_| SettingsError::Sealed)?;
        if raw.len() < 24 {
            return Err(SettingsError::Sealed);
        }
        let (n, ct) = raw.split_at(24);
        let nonce = XNonce::from_slice(n);
        XChaCha20Poly1305::new((&self.key).into()).decrypt(nonce, ct).map_err(|_| SettingsError::Sealed)
    }
}

/// A plugin's settings as the cabinet shows them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// The plugin's schema (the cabinet draws its form from it).
    #[schema(value_type = Object)]
    pub schema: Value,
    /// The settings, secrets left out.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Secret settings that have a value.
    pub secrets_set: Vec<String>,
}

/// The names of a schema's secret properties (`"writeOnly": true`).
pub fn secret_names(schema: &Value) -> Vec<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().filter(|(_, s)| s.get("writeOnly") == Some(&Value::Bool(true))).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default()
}

async fn schema_of(store: &Store, tenant_id: i64, plugin: &str) -> Result<Value, SettingsError> {
    let row = store.plugin(tenant_id, plugin).await?;
    let meta: Value = serde_json::from_str(&row.metadata).unwrap_or(Value::Null);
    let text = meta.get("config_schema").and_then(Value::as_str).unwrap_or("{}");
    serde_json::from_str(text).map_err(|e| SettingsError::Invalid(format!("the plugin's schema is not JSON: {e}")))
}

/// Stored settings and opened secrets of a plugin (empty objects when none).
async fn stored(
    store: &Store,
    sbox: &SecretBox,
    tenant_id: i64,
    plugin: &str,
) -> Result<(Map<String, Value>, Map<String, Value>), SettingsError> {
    let Some((settings, sealed)) = store.plugin_settings(tenant_id, plugin).await? else { return Ok((Map::new(), Map::new())) };
    let settings = serde_json::from_str(&settings).unwrap_or_default();
    let secrets = if sealed.is_empty() { Map::new() } else { serde_json::from_slice(&sbox.open(&sealed)?).unwrap_or_default() };
    Ok((settings, secrets))
}

/// A plugin's settings without its secrets, and which secrets are set.
pub async fn view(store: &Store, sbox: &SecretBox, tenant_id: i64, plugin: &str) -> Result<SettingsView, SettingsError> {
    let schema = schema_of(store, tenant_id, plugin).await?;
    let (settings, secrets) = stored(store, sbox, tenant_id, plugin).await?;
    let mut set: Vec<String> = secrets.keys().cloned().collect();
    set.sort();
    Ok(SettingsView { schema, settings: Value::Object(settings), secrets_set: set })
}

/// Sets a plugin's settings: the non-secret ones are replaced by `input`'s; a secret given
/// as a string is set, as `null` removed, and one left out keeps its stored value. The whole
/// is checked against the plugin's schema before anything is stored.
pub async fn put(store: &Store, sbox: &SecretBox, tenant_id: i64, plugin: &str, input: &Value) -> Result<SettingsView, SettingsError> {
    let Some(input) = input.as_object() else { return Err(SettingsError::Invalid("settings must be a JSON object".into())) };
    if serde_json::to_vec(input).map(|v| v.len()).unwrap_or(usize::MAX) > MAX_SETTINGS_BYTES {
        return Err(SettingsError::Invalid(format!("settings are larger than {MAX_SETTINGS_BYTES} bytes")));
    }
    let schema = schema_of(store, tenant_id, plugin).await?;
    let secret_keys = secret_names(&schema);
    let (_, mut secrets) = stored(store, sbox, tenant_id, plugin).await?;
    let mut settings = Map::new();
    for (k, v) in input {
        if secret_keys.contains(k) {
            match v {
                Value::Null => {
                    secrets.remove(k);
                }
                Value::String(s) if s.is_empty() => {}
                other => {
                    secrets.insert(k.clone(), other.clone());
                }
            }
        } else {
            settings.insert(k.clone(), v.clone());
        }
    }
    let mut whole = settings.clone();
    whole.extend(secrets.clone());
    pbx_plugin_host::schema::validate(&schema, &Value::Object(whole)).map_err(SettingsError::Invalid)?;
    let sealed = if secrets.is_empty() { String::new() } else { sbox.seal(&serde_json::to_vec(&secrets).unwrap_or_default())? };
    store.set_plugin_settings(tenant_id, plugin, &Value::Object(settings).to_string(), &sealed).await?;
    view(store, sbox, tenant_id, plugin).await
}

/// The configuration a plugin runs with outside calls: its settings with the secrets opened.
pub async fn config_for(store: &Store, sbox: &SecretBox, tenant_id: i64, plugin: &str) -> Result<String, SettingsError> {
    let (mut settings, secrets) = stored(store, sbox, tenant_id, plugin).await?;
    settings.extend(secrets);
    Ok(Value::Object(settings).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let a = SecretBox::with_key([7; 32]);
        let sealed = a.seal(b"api-key-123").unwrap();
        assert!(!sealed.contains("api-key-123"));
        assert_ne!(a.seal(b"api-key-123").unwrap(), sealed, "a fresh nonce each time");
        assert_eq!(a.open(&sealed).unwrap(), b"api-key-123");
        assert!(SecretBox::with_key([8; 32]).open(&sealed).is_err());
        assert!(a.open("not base64!").is_err());
        assert!(a.open(&STANDARD.encode([1u8; 10])).is_err());
    }

    #[test]
    fn secrets_are_the_write_only_properties() {
        let s = json!({"type": "object", "properties": {"url": {"type": "string"}, "key": {"type": "string", "writeOnly": true}}});
        assert_eq!(secret_names(&s), ["key"]);
        assert!(secret_names(&json!({})).is_empty());
    }
}

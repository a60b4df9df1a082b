//! What a plugin may ask of the PBX. In a component these call the host; in native tests
//! they use the simulated host of [`crate::testing`].

use crate::{Contact, HttpRequest, HttpResponse, LocalTime, LogLevel, UserInfo};

#[cfg(target_arch = "wasm32")]
use crate::bindings::pbx::plugin::host as imp;

#[cfg(not(target_arch = "wasm32"))]
use crate::testing::native as imp;

/// The node's configuration as JSON text.
pub fn config() -> String {
    imp::config()
}

/// The node's configuration, deserialised.
pub fn config_as<T: serde::de::DeserializeOwned>() -> Result<T, String> {
    serde_json::from_str(&config()).map_err(|e| format!("invalid configuration: {e}"))
}

/// Writes to the PBX log (with the call id).
pub fn log(level: LogLevel, message: &str) {
    imp::log(level, message)
}

/// Logs at info level.
pub fn info(message: &str) {
    log(LogLevel::Info, message)
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message)
}

/// Reads a value of the plugin's key-value store.
pub fn kv_get(key: &str) -> Option<String> {
    imp::kv_get(key)
}

/// Writes a value of the plugin's key-value store.
pub fn kv_set(key: &str, value: &str) {
    imp::kv_set(key, value)
}

/// Deletes a value of the plugin's key-value store.
pub fn kv_delete(key: &str) {
    imp::kv_delete(key)
}

/// The tenant's local time.
pub fn now() -> LocalTime {
    imp::now()
}

/// The tenant's users (with the directory capability).
pub fn directory() -> Vec<UserInfo> {
    imp::directory()
}

/// Outbound HTTP to a host the tenant granted.
pub fn http(request: &HttpRequest) -> Result<HttpResponse, String> {
    imp::http(request)
}

/// The tenant's city numbers, E.164 (with the directory capability).
pub fn lines() -> Vec<String> {
    imp::lines()
}

/// The phone-book entry of a number (with the contacts capability).
pub fn contact_lookup(number: &str) -> Option<Contact> {
    imp::contact_lookup(number)
}

/// Adds or replaces a phone-book entry, so the phones show the name (with the contacts
/// capability); the error says what is wrong with it.
pub fn contact_put(entry: &Contact) -> Result<(), String> {
    imp::contact_put(entry)
}

/// Removes a phone-book entry; false if there was none (with the contacts capability).
pub fn contact_remove(number: &str) -> bool {
    imp::contact_remove(number)
}

//! The cabinet's single-page app, compiled into the binary (no Node.js, no build step): the
//! HTML shell, its scripts and styles. Unknown non-API paths answer the shell so that page
//! addresses can be bookmarked; unknown API paths answer a JSON 404.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file: name, content type and bytes.
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../../../web/app.js")),
    ("pages.js", "text/javascript; charset=utf-8", include_str!("../../../../web/pages.js")),
    ("editor.js", "text/javascript; charset=utf-8", include_str!("../../../../web/editor.js")),
    ("groups.js", "text/javascript; charset=utf-8", include_str!("../../../../web/groups.js")),
    ("billing.js", "text/javascript; charset=utf-8", include_str!("../../../../web/billing.js")),
    ("blocking.js", "text/javascript; charset=utf-8", include_str!("../../../../web/blocking.js")),
    ("missed.js", "text/javascript; charset=utf-8", include_str!("../../../../web/missed.js")),
    ("colleagues.js", "text/javascript; charset=utf-8", include_str!("../../../../web/colleagues.js")),
    ("reports.js", "text/javascript; charset=utf-8", include_str!("../../../../web/reports.js")),
    ("operator.js", "text/javascript; charset=utf-8", include_str!("../../../../web/operator.js")),
    ("phone.js", "text/javascript; charset=utf-8", include_str!("../../../../web/phone.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_str!("../../../../web/i18n.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../../../web/style.css")),
    // dagre 1.1.4 (MIT, web/vendor/dagre.LICENSE): the scenario editor's layered layout.
    ("dagre.min.js", "text/javascript; charset=utf-8", include_str!("../../../../web/vendor/dagre.min.js")),
    // JsSIP 3.13.8 (MIT, web/vendor/jssip.LICENSE; bundle pinned by web/vendor/jssip-build):
    // the web phone's SIP over WebSocket.
    ("jssip.min.js", "text/javascript; charset=utf-8", include_str!("../../../../web/vendor/jssip.min.js")),
];

const INDEX: &str = include_str!("../../../../web/index.html");

/// The router of the app's files.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(index)).route("/assets/{file}", get(asset)).fallback(fallback)
}

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

/// The language the browser prefers among ours (Accept-Language, by q-value).
pub fn preferred_lang(accept: &str) -> &'static str {
    let mut best = ("en", -1.0f32);
    for part in accept.split(',') {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.parse::<f32>().ok())).unwrap_or(1.0);
        let lang = if tag.starts_with("ru") {
            "ru"
        } else if tag.starts_with("en") {
            "en"
        } else {
            continue;
        };
        if q > best.1 {
            best = (lang, q);
        }
    }
    best.0
}

async fn index(headers: HeaderMap) -> Response {
    let lang = preferred_lang(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or(""));
    let html = INDEX.replace("{{LANG}}", lang);
    secure(([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], html).into_response())
}

async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == file) {
        Some((_, ctype, body)) => secure(([(header::CONTENT_TYPE, *ctype), (header::CACHE_CONTROL, "no-cache")], *body).into_response()),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn fallback(uri: Uri, headers: HeaderMap) -> Response {
    if uri.path().starts_with("/api/") {
        return super::error::ApiError::not_found("this address").into_response();
    }
    index(headers).await
}

#[cfg(test)]
mod tests {
    use super::{FILES, preferred_lang};
    use std::collections::BTreeSet;

    /// The keys of one language's dictionary in `i18n.js`, in order (duplicates kept).
    fn keys(src: &str, lang: &str) -> Vec<String> {
        let start = src.find(&format!("\n  {lang}: {{")).unwrap_or_else(|| panic!("no {lang} dictionary"));
        let body = &src[start..];
        let end = body.find("\n  },").unwrap_or(body.len());
        let mut out = Vec::new();
        let mut rest = &body[lang.len() + 6..end];
        // Each entry is `key: '...'` or `'key-with-dash': '...'`; texts never hold `: '`.
        while let Some(i) = rest.find(": '") {
            let before = rest[..i].trim_end();
            let key = before.rsplit([' ', ',', '\n', '{']).next().unwrap_or("").trim_matches('\'');
            out.push(key.to_string());
            // Past the text: to its closing quote (texts escape none here).
            let after = &rest[i + 3..];
            let close = after.find('\'').unwrap_or(after.len());
            rest = &after[(close + 1).min(after.len())..];
        }
        out
    }

    #[test]
    fn the_cabinet_speaks_both_languages_with_the_same_keys() {
        let i18n = FILES.iter().find(|f| f.0 == "i18n.js").map(|f| f.2).unwrap_or_default();
        let (en, ru) = (keys(i18n, "en"), keys(i18n, "ru"));
        assert!(en.len() > 200, "{} keys read", en.len());
        for (lang, list) in [("en", &en), ("ru", &ru)] {
            let mut seen = BTreeSet::new();
            let dup: Vec<&String> = list.iter().filter(|k| !seen.insert(k.as_str())).collect();
            assert!(dup.is_empty(), "{lang} defines these twice (the second wins): {dup:?}");
        }
        let (en, ru): (BTreeSet<String>, BTreeSet<String>) = (en.into_iter().collect(), ru.into_iter().collect());
        assert_eq!(en.difference(&ru).collect::<Vec<_>>(), Vec::<&String>::new(), "in English only");
        assert_eq!(ru.difference(&en).collect::<Vec<_>>(), Vec::<&String>::new(), "in Russian only");
        // Every fixed key a script asks for is in the dictionaries.
        for (name, _, src) in FILES.iter().filter(|f| f.0.ends_with(".js") && f.0 != "i18n.js" && f.0 != "dagre.min.js") {
            for (at, _) in src.match_indices("t('") {
                // `t(` itself, not the end of another name (`get('content-type')`).
                if src[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                    continue;
                }
                let part = &src[at + 3..];
                let Some(end) = part.find('\'') else { continue };
                if part[end + 1..].starts_with(')') {
                    let key = &part[..end];
                    assert!(en.contains(key), "{name} asks for t('{key}'), which no dictionary has");
                }
            }
        }
    }

    #[test]
    fn accept_language_picks_ours_by_weight() {
        assert_eq!(preferred_lang("ru-RU,ru;q=0.9,en;q=0.8"), "ru");
        assert_eq!(preferred_lang("de-DE,en;q=0.5,ru;q=0.7"), "ru");
        assert_eq!(preferred_lang("en-US,en;q=0.9"), "en");
        assert_eq!(preferred_lang("fr"), "en");
        assert_eq!(preferred_lang(""), "en");
    }
}

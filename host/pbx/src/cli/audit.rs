//! The CLI's part of the audit log: a command that changes something is recorded with the
//! system user who ran it, its words and its arguments, with every secret left out.

use crate::config::Common;
use pbx_store::audit::NewAudit;

/// Options before the command that take a value.
const GLOBAL_VALUED: &[&str] = &["--data-dir", "--database-url"];
/// Commands (second word) that only read.
const READS: &[&str] = &["list", "show", "get", "simulate", "catalog", "export", "status", "deliveries", "help"];
/// Options whose values are secrets (or may hold one, as a database URL's password).
const SECRET_OPTIONS: &[&str] =
    &["--password", "--web-password", "--sip-password", "--set", "--secret", "--client-secret", "--database-url", "--token"];

/// The entry for a command line (the arguments after the program's name), if it changes
/// something; `ok` is whether it succeeded. The company is named later, from the words.
pub fn of_command_line(line: &[String], ok: bool) -> Option<(NewAudit, Option<String>)> {
    // The words, past the global options (whose values are not words).
    let mut words: Vec<&str> = Vec::new();
    let mut skip = false;
    for a in line {
        if std::mem::take(&mut skip) {
            continue;
        }
        if GLOBAL_VALUED.contains(&a.as_str()) {
            skip = true;
        } else if !a.starts_with('-') && words.len() < 3 {
            words.push(a);
        }
    }
    let (noun, verb) = (*words.first()?, words.get(1).copied().unwrap_or(""));
    if noun == "serve" || noun == "help" || READS.contains(&verb) || line.iter().any(|a| a == "--help" || a == "-h") {
        return None;
    }
    // `pbx plugin integration acme crm --show` only reads too.
    if line.iter().any(|a| a == "--show") {
        return None;
    }
    let mut object = Vec::new();
    let mut hide_next = false;
    for a in line.iter().skip_while(|a| a.as_str() != verb).skip(1) {
        if hide_next {
            object.push("…".to_string());
            hide_next = false;
            continue;
        }
        match a.split_once('=') {
            Some((k, _)) if SECRET_OPTIONS.contains(&k) => object.push(format!("{k}=…")),
            _ => {
                hide_next = SECRET_OPTIONS.contains(&a.as_str());
                object.push(a.clone());
            }
        }
    }
    let actor = system_user();
    let entry = NewAudit {
        tenant_id: None,
        actor,
        via: "cli",
        address: "local".into(),
        action: format!("{noun} {verb}").trim().to_string(),
        object: object.join(" "),
        status: if ok { 0 } else { 1 },
    };
    // Most commands name the company first: `pbx user create acme 101`.
    Some((entry, words.get(2).map(|s| s.to_string())))
}

/// The system user running the CLI: who a command's audit entry and balance history name.
pub fn system_user() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "cli".into())
}

/// Writes the entry (a failure to open the store or write is reported, not fatal: the
/// command itself has run).
pub async fn record(common: &Common, (mut entry, slug): (NewAudit, Option<String>)) {
    let store = match common.database_url() {
        Ok(url) => pbx_store::Store::open(&url).await,
        Err(e) => {
            eprintln!("warning: the audit log was not written: {e}");
            return;
        }
    };
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warning: the audit log was not written: {e}");
            return;
        }
    };
    if let Some(slug) = slug {
        entry.tenant_id = store.tenant_by_slug(&slug).await.ok().map(|t| t.id);
    }
    if let Err(e) = store.record_audit(&entry).await {
        eprintln!("warning: the audit log was not written: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn a_change_is_recorded_without_its_secrets() {
        let (e, slug) =
            of_command_line(&line("user create acme 101 --password secret101 --web-password=boss-pass --name Ivan"), true).unwrap();
        assert_eq!((e.action.as_str(), slug.as_deref(), e.status), ("user create", Some("acme"), 0));
        assert_eq!(e.object, "acme 101 --password … --web-password=… --name Ivan");
        let (e, _) = of_command_line(&line("plugin settings acme crm --set {\"api_key\":\"k-123\"}"), false).unwrap();
        assert!(!e.object.contains("k-123") && e.status == 1, "{}", e.object);
        let (e, _) = of_command_line(&line("--data-dir /tmp/x tenant balance acme 100"), true).unwrap();
        assert_eq!((e.action.as_str(), e.object.as_str()), ("tenant balance", "acme 100"));
    }

    #[test]
    fn reading_is_not_recorded() {
        for l in [
            "user list acme",
            "calls show acme 1",
            "serve",
            "plugin integration acme crm --show",
            "scenario simulate acme 1",
            "tenant create --help",
        ] {
            assert!(of_command_line(&line(l), true).is_none(), "{l}");
        }
    }
}

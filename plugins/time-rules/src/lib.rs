//! `time-rules`: is the office open now? A weekly schedule and dated exceptions (holidays,
//! short days) in the tenant's time zone; the node leaves through `open` or `closed`.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use pbx_plugin_sdk::{Event, LocalTime, Metadata, Plugin, Verb, export_plugin, host, metadata};
use serde::Deserialize;

/// One weekly opening period.
#[derive(Debug, Deserialize)]
pub struct Period {
    /// Days: mon..sun.
    pub days: Vec<String>,
    /// Opening time HH:MM.
    pub from: String,
    /// Closing time HH:MM (exclusive).
    pub to: String,
}

/// A dated exception: closed all day, or open only in the given hours.
#[derive(Debug, Deserialize)]
pub struct Exception {
    /// YYYY-MM-DD.
    pub date: String,
    /// Opening time, when open that day.
    #[serde(default)]
    pub from: Option<String>,
    /// Closing time, when open that day.
    #[serde(default)]
    pub to: Option<String>,
}

/// The node configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Weekly schedule.
    pub weekly: Vec<Period>,
    /// Exceptions by date.
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["weekly"],
  "additionalProperties": false,
  "properties": {
    "weekly": {"type": "array", "title": "Opening hours", "items": {"type": "object", "required": ["days", "from", "to"], "additionalProperties": false,
      "properties": {
        "days": {"type": "array", "items": {"type": "string", "enum": ["mon","tue","wed","thu","fri","sat","sun"]}, "minItems": 1},
        "from": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        "to": {"type": "string", "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"}}}},
    "exceptions": {"type": "array", "title": "Holidays and special days", "items": {"type": "object", "required": ["date"], "additionalProperties": false,
      "properties": {
        "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "from": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        "to": {"type": "string", "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"}}}}
  }
}"#;

fn minutes(hhmm: &str) -> Result<u32, String> {
    let (h, m) = hhmm.split_once(':').ok_or_else(|| format!("bad time {hhmm:?}"))?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| format!("bad time {hhmm:?}"))?, m.parse().map_err(|_| format!("bad time {hhmm:?}"))?);
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(format!("bad time {hhmm:?}"));
    }
    Ok(h * 60 + m)
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Whether the schedule is open at `t`.
pub fn is_open(c: &Config, t: &LocalTime) -> Result<bool, String> {
    let now = t.hour as u32 * 60 + t.minute as u32;
    let date = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
    if let Some(e) = c.exceptions.iter().find(|e| e.date == date) {
        return match (&e.from, &e.to) {
            (Some(f), Some(to)) => Ok(minutes(f)? <= now && now < minutes(to)?),
            _ => Ok(false),
        };
    }
    let day = DAYS.get((t.weekday as usize).wrapping_sub(1)).copied().unwrap_or("");
    for p in &c.weekly {
        if p.days.iter().any(|d| d == day) && minutes(&p.from)? <= now && now < minutes(&p.to)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The plugin.
pub struct TimeRules;

impl Plugin for TimeRules {
    fn describe() -> Metadata {
        metadata(
            "time-rules",
            env!("CARGO_PKG_VERSION"),
            "Working hours: a weekly schedule with holidays, in the tenant's time zone",
            &["open", "closed"],
            SCHEMA,
        )
    }

    fn outputs(config: &str) -> Result<Vec<String>, String> {
        let c: Config = serde_json::from_str(config).map_err(|e| format!("invalid configuration: {e}"))?;
        for p in &c.weekly {
            if minutes(&p.from)? >= minutes(&p.to)? {
                return Err(format!("period {}–{} ends before it starts", p.from, p.to));
            }
        }
        Ok(vec!["open".into(), "closed".into()])
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        match event {
            Event::CallArrived(_) => {
                let c: Config = host::config_as()?;
                let open = is_open(&c, &host::now())?;
                Ok(vec![Verb::Next(if open { "open" } else { "closed" }.into())])
            }
            _ => Ok(Vec::new()),
        }
    }
}

export_plugin!(TimeRules);

#[cfg(test)]
mod tests {
    use super::*;
    use pbx_plugin_sdk::testing::{Harness, next_of};

    const OFFICE: &str = r#"{"weekly":[{"days":["mon","tue","wed","thu","fri"],"from":"09:00","to":"18:00"}],
      "exceptions":[{"date":"2026-12-31"},{"date":"2026-12-26","from":"10:00","to":"14:00"}]}"#;

    fn route(y: i16, mo: u8, d: u8, h: u8, mi: u8) -> String {
        let mut h = Harness::<TimeRules>::new(OFFICE).at(y, mo, d, h, mi);
        next_of(&h.call_arrived().unwrap()).unwrap().to_string()
    }

    #[test]
    fn weekly_schedule() {
        assert_eq!(route(2026, 11, 23, 9, 0), "open"); // Monday 09:00
        assert_eq!(route(2026, 11, 23, 8, 59), "closed");
        assert_eq!(route(2026, 11, 27, 17, 59), "open"); // Friday
        assert_eq!(route(2026, 11, 27, 18, 0), "closed");
        assert_eq!(route(2026, 11, 28, 12, 0), "closed"); // Saturday
    }

    #[test]
    fn exceptions() {
        assert_eq!(route(2026, 12, 31, 12, 0), "closed"); // a Thursday, but a holiday
        assert_eq!(route(2026, 12, 26, 11, 0), "open"); // a Saturday opened 10–14
        assert_eq!(route(2026, 12, 26, 15, 0), "closed");
    }

    #[test]
    fn bad_configs_are_refused() {
        let h = Harness::<TimeRules>::new(r#"{"weekly":[{"days":["mon"],"from":"18:00","to":"09:00"}]}"#);
        assert!(h.outputs().unwrap_err().contains("ends before"));
        let h = Harness::<TimeRules>::new(r#"{"weekly":"always"}"#);
        assert!(h.outputs().is_err());
        let h = Harness::<TimeRules>::new(OFFICE);
        assert_eq!(h.outputs().unwrap(), vec!["open", "closed"]);
    }
}

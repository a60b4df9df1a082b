//! Codes for the call timeline's details: the engine writes each event's detail in English;
//! the API adds the code of its template and its variable parts, so the cabinet shows the
//! timeline in the reader's language (`tl_<code>` in `web/i18n.js`; variable parts that are
//! words such as `caller` have `word_<word>` entries). Details that are data (a dialled
//! number, a plugin's name, a prompt) have no code and are shown as they are.

/// (event kind, code, English template) of the timeline's fixed phrases.
pub const TIMELINE: &[(&str, &str, &str)] = &[
    ("transfer", "xfer_att_unreachable", "attended by keys to {} by the {}: failed (unreachable)"),
    ("transfer", "xfer_att_no_ports", "attended by keys to {} by the {}: failed (no media ports)"),
    ("transfer", "xfer_att_consulting", "attended by keys to {} by the {}: consulting"),
    ("transfer", "xfer_att_answered", "attended by keys to {}: the target answered"),
    ("transfer", "xfer_left_ringing", "the transferor hung up; the target takes the call when it answers"),
    ("transfer", "xfer_att_connected", "attended by keys to {}: connected"),
    ("transfer", "xfer_att_failed", "attended by keys to {}: failed ({})"),
    ("transfer", "xfer_left", "the transferor hung up"),
    ("transfer", "xfer_unreachable", "to {} failed: unreachable"),
    ("transfer", "xfer_blind", "blind to {} by the {}"),
    ("transfer", "xfer_blind_connected", "blind to {} by the {}: connected"),
    ("transfer", "xfer_blind_failed", "blind to {} by the {}: failed ({})"),
    ("transfer", "xfer_joined", "joined to another call"),
    ("transfer", "xfer_att_joined", "attended: joined with the consulted party"),
    ("queue", "q_full", "{} is full"),
    ("queue", "q_joined", "joined {} at position {}"),
    ("queue", "q_callback", "callback requested to {}; place kept"),
    ("queue", "q_timeout", "waited too long"),
    ("queue", "q_answered", "answered by {} after {} s"),
    ("callback", "cb_ringing", "ringing agent {} for {}"),
    ("callback", "cb_agent_answered", "agent answered; calling the customer"),
    ("hangup", "hangup", "{}; {}"),
    ("balance", "balance_out", "the balance ran out"),
    ("click-to-call", "ctc_ringing", "ringing {} first, then {}"),
    ("click-to-call", "ctc_answered", "{} answered; calling {}"),
    ("answered", "answered_pbx", "by the PBX"),
    ("recording", "recording_started", "started"),
    ("gathered", "gathered", "{} ({})"),
    ("fallback", "fb_queue_node", "queue {} is dialled with a queue node"),
    ("fallback", "fb_loop", "the scenario ran more than {} steps (a loop?)"),
    ("fallback", "fb_no_node", "there is no node {}"),
    ("fallback", "fb_no_decision", "the plugin did not say where the call goes next"),
    ("fallback", "fb_no_edge", "node {} has no edge for output {}"),
    ("fallback", "fb_many_verbs", "{} verbs in one decision (at most {})"),
    ("fallback", "fb_many_variables", "more than {} call variables"),
    ("fallback", "fb_not_routing", "{} is not a call-routing verb"),
    ("fallback", "fb_queue_ended", "the queue ended the wait: {}"),
    ("plugin-failed", "plugin_failed", "{}: {}: {}"),
    ("ring", "ring_everyone", "everyone"),
    ("forward", "forwarded", "{} → {} ({})"),
    ("pickup", "picked_up", "{} picked up the call ringing {}"),
    ("dtmf", "dtmf", "{} {} {}"),
    ("hold", "who", "{}"),
    ("resume", "who2", "{}"),
];

/// The code and variable parts of an event's detail, if one of its kind's templates
/// matches (the one with the most fixed text).
pub fn classify(kind: &str, detail: &str) -> Option<(&'static str, Vec<String>)> {
    TIMELINE
        .iter()
        .filter(|(k, _, _)| *k == kind)
        .filter_map(|(_, code, template)| super::error_codes::matches(template, detail).map(|p| (template.len(), *code, p)))
        .max_by_key(|(fixed, _, _)| *fixed)
        .map(|(_, code, params)| (code, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_get_codes_and_data_does_not() {
        assert_eq!(classify("hangup", "BYE; caller"), Some(("hangup", vec!["BYE".to_string(), "caller".to_string()])));
        assert_eq!(classify("transfer", "blind to 103 by the callee: failed (busy)").map(|c| c.0), Some("xfer_blind_failed"));
        assert_eq!(classify("queue", "joined 300 at position 2").map(|c| c.1), Some(vec!["300".to_string(), "2".to_string()]));
        assert_eq!(classify("dial", "101,102"), None);
    }

    /// Both dictionaries of the cabinet translate every code with its variable parts.
    #[test]
    fn the_cabinet_translates_every_timeline_code() {
        let i18n = include_str!("../../../../web/i18n.js");
        let (en_at, ru_at) = (i18n.find("  en: {").unwrap(), i18n.find("  ru: {").unwrap());
        for (_, code, template) in TIMELINE {
            let n = template.matches("{}").count();
            for (lang, block) in [("en", &i18n[en_at..ru_at]), ("ru", &i18n[ru_at..])] {
                let key = format!("tl_{code}: '");
                let at = block.find(&key).unwrap_or_else(|| panic!("{lang} lacks tl_{code}"));
                let text = &block[at + key.len()..];
                let text = &text[..text.find('\'').unwrap()];
                for i in 0..n {
                    assert!(text.contains(&format!("{{{i}}}")), "{lang} tl_{code} lacks {{{i}}}: {text}");
                }
            }
        }
    }
}

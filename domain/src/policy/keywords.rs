//! Opt-out and opt-in keywords, in English and Indonesian.
//!
//! A message counts only when it is the keyword alone (trimmed, any case, trailing
//! punctuation ignored), so "stop sending me the old catalogue" in a longer
//! sentence is not mistaken for an opt-out.

/// What a keyword asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeywordSignal {
    OptOut,
    OptIn,
}

const OPT_OUT: &[&str] =
    &["stop", "unsubscribe", "berhenti", "stop all", "cancel", "end", "quit", "unsub", "berhenti langganan"];
const OPT_IN: &[&str] = &["start", "mulai", "subscribe", "unstop", "langganan"];

/// Returns the signal and the normalised keyword, if the text is an opt keyword.
pub fn detect(text: &str) -> Option<(KeywordSignal, String)> {
    let normalised: String = text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_punctuation())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if OPT_OUT.contains(&normalised.as_str()) {
        Some((KeywordSignal::OptOut, normalised.to_uppercase()))
    } else if OPT_IN.contains(&normalised.as_str()) {
        Some((KeywordSignal::OptIn, normalised.to_uppercase()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_recognised_in_english_and_indonesian() {
        for (text, signal) in [
            ("STOP", KeywordSignal::OptOut),
            (" unsubscribe. ", KeywordSignal::OptOut),
            ("Berhenti", KeywordSignal::OptOut),
            ("START", KeywordSignal::OptIn),
            ("mulai!", KeywordSignal::OptIn),
        ] {
            assert_eq!(detect(text).map(|d| d.0), Some(signal), "{text}");
        }
    }

    #[test]
    fn a_keyword_inside_a_sentence_is_not_a_signal() {
        assert_eq!(detect("please don't stop the delivery"), None);
        assert_eq!(detect("kapan mulai promo?"), None);
        assert_eq!(detect(""), None);
    }
}

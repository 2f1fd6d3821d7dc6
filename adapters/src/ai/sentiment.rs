//! The embedded sentiment scorer: a lexicon for English and Indonesian (formal and the
//! chat register: "gak", "banget", "mantap"), with negation, intensifiers and emoji.
//! No crate covers Indonesian; VADER's normalisation keeps scores in (−1, 1).

use laras_commands::worker::SentimentScorer;

/// Word → valence in −3..3 (VADER's scale).
const LEXICON: &[(&str, f64)] = &[
    // English, positive
    ("good", 1.9),
    ("great", 3.0),
    ("excellent", 3.0),
    ("love", 3.0),
    ("like", 1.5),
    ("nice", 1.8),
    ("thanks", 1.9),
    ("thank", 1.5),
    ("happy", 2.7),
    ("awesome", 3.0),
    ("perfect", 2.7),
    ("fast", 1.0),
    ("recommend", 1.5),
    ("beautiful", 2.9),
    ("satisfied", 1.8),
    ("helpful", 1.8),
    ("amazing", 2.8),
    // English, negative
    ("bad", -2.5),
    ("terrible", -3.0),
    ("awful", -3.0),
    ("hate", -2.7),
    ("angry", -2.3),
    ("broken", -2.0),
    ("late", -1.0),
    ("slow", -1.2),
    ("wrong", -2.1),
    ("disappointed", -2.3),
    ("disappointing", -2.2),
    ("refund", -1.0),
    ("scam", -3.0),
    ("fraud", -3.0),
    ("worst", -3.1),
    ("rude", -2.5),
    ("damaged", -2.2),
    ("complaint", -1.8),
    ("useless", -2.4),
    ("annoyed", -2.0),
    ("poor", -2.1),
    // Indonesian, positive
    ("bagus", 2.0),
    ("baik", 1.6),
    ("mantap", 2.5),
    ("mantul", 2.5),
    ("keren", 2.2),
    ("suka", 1.6),
    ("senang", 2.4),
    ("puas", 2.2),
    ("kasih", 1.6),
    ("makasih", 1.9),
    ("cepat", 1.0),
    ("ramah", 2.0),
    ("cantik", 2.2),
    ("rekomendasi", 1.5),
    ("recommended", 1.5),
    ("oke", 0.9),
    ("sip", 1.5),
    ("top", 1.8),
    ("memuaskan", 2.4),
    ("enak", 2.0),
    ("murah", 1.0),
    ("lancar", 1.4),
    // Indonesian, negative
    ("buruk", -2.5),
    ("jelek", -2.4),
    ("kecewa", -2.5),
    ("marah", -2.5),
    ("rusak", -2.2),
    ("lambat", -1.4),
    ("lama", -0.8),
    ("telat", -1.3),
    ("salah", -1.8),
    ("penipu", -3.2),
    ("tipu", -3.0),
    ("parah", -2.4),
    ("mahal", -1.0),
    ("kesal", -2.2),
    ("sebel", -2.0),
    ("komplain", -1.8),
    ("batal", -1.2),
    ("cacat", -2.3),
    ("bohong", -2.6),
    ("payah", -2.4),
    ("gagal", -2.0),
    ("nyesel", -2.3),
    ("menyesal", -2.3),
    ("lelet", -1.8),
];

const NEGATORS: &[&str] = &[
    "not", "no", "never", "dont", "don't", "didnt", "didn't", "isnt", "isn't", "wasnt", "wasn't", "cannot", "cant",
    "can't", "tidak", "tak", "gak", "ga", "nggak", "enggak", "ngga", "bukan", "belum", "jangan", "kurang",
];

const INTENSIFIERS: &[&str] =
    &["very", "so", "really", "extremely", "too", "sangat", "banget", "bgt", "sekali", "amat", "paling", "sungguh"];

const EMOJI: &[(char, f64)] = &[
    ('😊', 2.0),
    ('😀', 2.0),
    ('😁', 2.0),
    ('😍', 3.0),
    ('🥰', 3.0),
    ('👍', 2.0),
    ('❤', 2.5),
    ('🙏', 1.0),
    ('😡', -3.0),
    ('😠', -2.8),
    ('👎', -2.2),
    ('😤', -2.3),
    ('😞', -2.0),
    ('😢', -2.0),
    ('😭', -2.3),
    ('💢', -2.5),
];

/// Scores a text in (−1, 1); 0 when nothing in it carries sentiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct LexiconSentiment;

impl LexiconSentiment {
    pub const NAME: &'static str = "lexicon-en-id-v1";

    pub fn score_text(text: &str) -> f64 {
        let lower = text.to_lowercase();
        let words: Vec<&str> =
            lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).collect();
        let mut sum = 0.0;
        for (i, word) in words.iter().enumerate() {
            let Some(&(_, valence)) = LEXICON.iter().find(|(w, _)| w == word) else { continue };
            let mut v = valence;
            // Up to three words back: "tidak terlalu bagus", "not very good".
            let before = &words[i.saturating_sub(3)..i];
            if before.iter().any(|w| NEGATORS.contains(w)) {
                v *= -0.74;
            }
            let near = words[i.saturating_sub(1)..(i + 2).min(words.len())].iter();
            if near.filter(|w| INTENSIFIERS.contains(w)).count() > 0 {
                v *= 1.3;
            }
            sum += v;
        }
        sum += text.chars().filter_map(|c| EMOJI.iter().find(|(e, _)| *e == c).map(|(_, v)| *v)).sum::<f64>();
        if sum != 0.0 && text.contains("!!") {
            sum *= 1.2;
        }
        // VADER's normalisation: x / sqrt(x² + 15).
        sum / (sum * sum + 15.0).sqrt()
    }
}

impl SentimentScorer for LexiconSentiment {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn score(&self, text: &str) -> f64 {
        Self::score_text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn english_and_indonesian_praise_is_positive_and_complaints_negative() {
        for text in ["Great service, thank you!", "Mantap, barangnya bagus banget 👍", "makasih kak, puas"] {
            assert!(LexiconSentiment::score_text(text) > 0.3, "{text}");
        }
        for text in ["This is terrible, I want a refund", "Kecewa banget, barangnya rusak 😡", "penipu!!"] {
            assert!(LexiconSentiment::score_text(text) < -0.3, "{text}");
        }
        assert_eq!(LexiconSentiment::score_text("Berapa harga batik tulis?"), 0.0);
    }

    #[test]
    fn negation_turns_the_valence_around() {
        assert!(LexiconSentiment::score_text("tidak bagus") < 0.0);
        assert!(LexiconSentiment::score_text("not bad at all") > 0.0);
        assert!(LexiconSentiment::score_text("gak kecewa") > 0.0);
    }

    proptest! {
        #[test]
        fn every_text_scores_inside_the_open_interval(text in "\\PC{0,200}") {
            let s = LexiconSentiment::score_text(&text);
            prop_assert!(s > -1.0 && s < 1.0, "{s}");
        }
    }
}

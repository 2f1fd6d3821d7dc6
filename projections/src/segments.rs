//! Customer lifetime value and RFM segments.
//!
//! Per Partner, over its contacts:
//! - **CLV** is the sum of the contact's won deals, in the Partner's primary currency
//!   (the currency most of its won value is in; deals in other currencies are not
//!   converted and do not count toward M).
//! - **Recency** is days since the contact's last won deal, or since its last
//!   interaction when it has none. **Frequency** is the number of won deals.
//!   **Monetary** is the CLV.
//! - Each of R, F, M becomes a quintile score 1–5 within the Partner (5 = most recent,
//!   most frequent, most valuable); equal values share a score.
//! - The segment comes from R and FM = round((F + M) / 2) by [`segment_for`]'s grid.
//!
//! Segments are recomputed when a Partner's deal closes and periodically as time passes.

use rusqlite::{params, Transaction};
use std::collections::HashMap;

pub const SEGMENTS: [&str; 11] = [
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose",
    "Hibernating",
    "Lost",
];

/// The segment grid over recency score `r` and the frequency–monetary score `fm` (both 1–5).
pub fn segment_for(r: u8, fm: u8) -> &'static str {
    match (r, fm) {
        (5, 4..=5) => "Champions",
        (5, 2..=3) => "Potential Loyalist",
        (5, _) => "New",
        (4, 4..=5) => "Loyal",
        (4, 2..=3) => "Potential Loyalist",
        (4, _) => "Promising",
        (3, 4..=5) => "Loyal",
        (3, 3) => "Need Attention",
        (3, _) => "About to Sleep",
        (1..=2, 5) => "Can't Lose",
        (1..=2, 3..=4) => "At Risk",
        (2, _) => "Hibernating",
        _ => "Lost",
    }
}

/// Quintile scores 1–5 for `values` (higher value → higher score). Equal values share
/// the score of their mean rank, the usual treatment of ties.
pub fn quintiles(values: &[f64]) -> Vec<u8> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut scores = vec![1u8; n];
    let mut rank = 0;
    while rank < n {
        let mut end = rank;
        while end + 1 < n && values[order[end + 1]] == values[order[rank]] {
            end += 1;
        }
        // Twice the mean rank, to stay in integers: rank + end.
        let score = (1 + ((rank + end) * 5) / (2 * n)).min(5) as u8;
        for &i in &order[rank..=end] {
            scores[i] = score;
        }
        rank = end + 1;
    }
    scores
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

struct Row {
    contact: String,
    last_won: Option<i64>,
    last_seen: i64,
    won_deals: i64,
    clv: i64,
}

/// Recomputes every contact's CLV and segment for one Partner at time `now` (ms).
pub fn recompute(tx: &Transaction<'_>, partner: &str, now: i64) -> rusqlite::Result<usize> {
    let currency: Option<String> = tx
        .query_row(
            "SELECT currency FROM opportunities WHERE partner_id = ?1 AND outcome = 'won'
             GROUP BY currency ORDER BY SUM(value_minor) DESC LIMIT 1",
            [partner],
            |r| r.get(0),
        )
        .ok();
    let mut won: HashMap<String, (i64, i64, i64)> = HashMap::new();
    {
        let mut stmt = tx.prepare(
            "SELECT contact_id, COUNT(*), SUM(CASE WHEN currency = ?2 THEN value_minor ELSE 0 END), MAX(closed_at)
             FROM opportunities WHERE partner_id = ?1 AND outcome = 'won' GROUP BY contact_id",
        )?;
        let rows = stmt.query_map(params![partner, currency], |r| {
            Ok((r.get::<_, String>(0)?, (r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)))
        })?;
        for row in rows {
            let (contact, v) = row?;
            won.insert(contact, v);
        }
    }
    let mut rows = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT contact_id, COALESCE(last_interaction, first_seen) FROM contacts WHERE partner_id = ?1 AND erased = 0",
        )?;
        let found = stmt.query_map([partner], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in found {
            let (contact, last_seen) = row?;
            let (won_deals, clv, last_won) = won.get(&contact).map_or((0, 0, None), |(n, v, at)| (*n, *v, Some(*at)));
            rows.push(Row { contact, last_won, last_seen, won_deals, clv });
        }
    }
    let recency_days: Vec<i64> =
        rows.iter().map(|r| ((now - r.last_won.unwrap_or(r.last_seen)) / DAY_MS).max(0)).collect();
    // Fewer days since is better: score the negated recency.
    let r = quintiles(&recency_days.iter().map(|d| -(*d as f64)).collect::<Vec<_>>());
    let f = quintiles(&rows.iter().map(|r| r.won_deals as f64).collect::<Vec<_>>());
    let m = quintiles(&rows.iter().map(|r| r.clv as f64).collect::<Vec<_>>());
    tx.execute("DELETE FROM segments WHERE partner_id = ?1", [partner])?;
    let mut insert = tx.prepare(
        "INSERT INTO segments (contact_id, partner_id, clv_minor, currency, won_deals, recency_days, r, f, m, segment, computed_at)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
    )?;
    for (i, row) in rows.iter().enumerate() {
        let fm = ((f[i] as f64 + m[i] as f64) / 2.0).round() as u8;
        insert.execute(params![
            row.contact,
            partner,
            row.clv,
            currency,
            row.won_deals,
            recency_days[i],
            r[i],
            f[i],
            m[i],
            segment_for(r[i], fm),
            now
        ])?;
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_cell_of_the_grid_has_one_named_segment_and_every_segment_is_reachable() {
        let mut seen = std::collections::BTreeSet::new();
        for r in 1..=5 {
            for fm in 1..=5 {
                let s = segment_for(r, fm);
                assert!(SEGMENTS.contains(&s));
                seen.insert(s);
            }
        }
        assert_eq!(seen.len(), SEGMENTS.len());
    }

    #[test]
    fn quintiles_rank_and_ties_share_a_score() {
        assert_eq!(quintiles(&[1.0, 2.0, 3.0, 4.0, 5.0]), vec![1, 2, 3, 4, 5]);
        assert_eq!(quintiles(&[7.0, 7.0, 7.0]), vec![2, 2, 2]);
        assert_eq!(quintiles(&[0.0, 0.0, 10.0, 20.0]), vec![1, 1, 3, 4]);
        assert!(quintiles(&[]).is_empty());
    }

    proptest! {
        #[test]
        fn quintile_scores_are_1_to_5_and_keep_the_order(values in proptest::collection::vec(-1e9f64..1e9, 0..200)) {
            let scores = quintiles(&values);
            prop_assert_eq!(scores.len(), values.len());
            for i in 0..values.len() {
                prop_assert!((1..=5).contains(&scores[i]));
                for j in 0..values.len() {
                    if values[i] < values[j] { prop_assert!(scores[i] <= scores[j]); }
                    if values[i] == values[j] { prop_assert_eq!(scores[i], scores[j]); }
                }
            }
        }
    }
}

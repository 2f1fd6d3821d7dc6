//! The AI worker's outside parts that need no outside service: the knowledge index,
//! the embedded draft generator and the sentiment scorer.

pub mod embedded;
pub mod knowledge;
pub mod openai;
pub mod sentiment;

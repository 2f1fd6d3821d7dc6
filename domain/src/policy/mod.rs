//! Policies that decide whether a reply may go out, and how.

pub mod keywords;
pub mod purpose;
pub mod window;

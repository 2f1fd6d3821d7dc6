//! The GraphQL API (issue 4).

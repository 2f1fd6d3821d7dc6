//! Read models built from the ledger (issue 4).

//! segment stage (in progress).

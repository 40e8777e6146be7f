//! series stage (in progress).

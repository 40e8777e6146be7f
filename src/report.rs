//! report stage (in progress).

//! measure stage (in progress).

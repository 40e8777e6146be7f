//! load stage (in progress).

//! The library's one error type: every variant names the file (or input) and the stage.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot load photo: {reason}", path.display())]
    Load { path: PathBuf, reason: String },
    #[error("{later}: cannot align onto baseline {baseline}: {reason}")]
    Align {
        baseline: String,
        later: String,
        reason: String,
    },
    #[error("{}: model error: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
    #[error("{input}: segmentation failed: {reason}")]
    Segment { input: String, reason: String },
    #[error("{}: cannot write output: {reason}", path.display())]
    Output { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    Input { path: PathBuf, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

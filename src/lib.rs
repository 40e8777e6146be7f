//! skintrack: measure how skin changes under treatment, from ordinary photos.
//!
//! The pipeline, one module per stage: [`load`] → [`align`] → [`segment`] → [`measure`] →
//! [`report`], driven over a series of sessions by [`series`]. [`synth`] makes skin-like
//! test and training images with exact truth.

pub mod align;
pub mod calibration;
pub mod definitions;
pub mod error;
pub mod inputs;
pub mod load;
pub mod measure;
pub mod report;
pub mod segment;
pub mod series;
pub mod synth;

pub use error::{Error, Result};

/// The tool's version, as recorded in reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

//! bitcask (in progress)
pub mod error;
pub mod format;
pub mod segment;
pub mod vfs;
pub use error::{Error, Result};

//! The crate's one error type.

use std::path::PathBuf;

/// Why a report could not be produced or written.
///
/// Missing or unreadable files on the inspected host are not errors: they become
/// evidence in the report. Only a root that is not a directory, or a failing writer,
/// stops the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The root path given to [`crate::check`] is not a directory.
    #[error("root {path} is not a directory")]
    RootNotADirectory {
        /// The root that was given.
        path: PathBuf,
    },
    /// Writing the rendered report failed.
    #[error("cannot write the report")]
    Write(#[source] std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

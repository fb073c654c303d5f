//! `bootcmd`: work in progress.

//! `netlink-vf`: work in progress.

//! `iommu-check`: work in progress.

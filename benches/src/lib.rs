//! Shared fixtures for the Rex benchmarks.

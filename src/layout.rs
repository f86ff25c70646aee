//! Pure planning of node layouts.

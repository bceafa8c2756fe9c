//! Rendering: tables for people, JSON for programs, and the sanitizer both rely on.

pub mod audit;
pub mod check;
pub mod filtered;
pub mod fit;
pub mod free;
pub mod grid;
pub mod json;
pub mod listing;
pub mod notes;
pub mod sanitize;
pub mod table;
pub mod verdict;
pub mod wait;

//! whoport: what is listening on a port, and should it be?
//!
//! The library behind the `whoport` binary: port parsing, the embedded IANA registry and the
//! other sources of port knowledge, and the renderers.

// A write to a closed or full stderr must not panic: messages go through `stderr::line`.
#![cfg_attr(not(test), deny(clippy::print_stderr))]

pub mod address;
pub mod allocator;
pub mod app;
pub mod atomic_file;
pub mod audit;
pub mod check;
pub mod cli;
pub mod collect;
pub mod config;
pub mod error;
pub mod far_file;
pub mod free;
pub mod hash;
pub mod input_file;
pub mod manpage;
pub mod model;
pub mod pasted;
pub mod port;
pub mod privilege;
pub mod registry;
pub mod render;
#[cfg(unix)]
mod safe_path;
pub mod same_file;
pub mod stderr;
pub mod wait;

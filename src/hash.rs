//! The hash maps and sets whoport keeps its tables in: the standard library's, hashed with
//! foldhash instead of SipHash. A listing at 10,000 sockets makes hundreds of thousands of
//! lookups keyed by socket inodes, PIDs and ports; with SipHash those were a few percent of
//! its CPU time (docs/benchmarks.md). foldhash's seed is random for each run, as SipHash's
//! keys are, and whoport runs briefly: nothing a process outside can see of one run tells
//! it how to make keys that collide in the next.
//!
//! `HashMap::new()` and `with_capacity` come with the `…Ext` traits; `HashMap::from([…])`
//! is the standard hasher's only, and `HashMap::from_iter([…])` is written instead.
pub use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

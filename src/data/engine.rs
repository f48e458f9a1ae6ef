//! The DataFusion session the jobs query their tables with: memory bounded, the rest spilled.

use std::sync::Arc;

use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};

/// Memory the operators of one session may hold (hash tables, sort buffers, join buffers), in
/// bytes. Beyond it, sorts, aggregations and sort-merge joins spill to the OS's temp directory.
/// Without a limit the 8 answers over 10 M-row tables took the batch job to 3.1 GiB (issue 19's
/// goal: 1 GiB).
pub const MEMORY_LIMIT: usize = 512 * 1024 * 1024;

/// How a session joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joins {
    /// Hash joins: for a small side joined with a table streaming past it (its build side is
    /// held whole and cannot spill).
    Hash,
    /// Sort-merge joins: both sides may be large; their sorts spill.
    SortMerge,
}

/// A session whose operators hold at most [`MEMORY_LIMIT`]; sorts and aggregations spill. An
/// operator that cannot spill and needs more fails the query with DataFusion's
/// `ResourcesExhausted`, naming the operator.
pub fn bounded_session(joins: Joins) -> SessionContext {
    let mut config = SessionConfig::new();
    config.options_mut().optimizer.prefer_hash_join = joins == Joins::Hash;
    // Fair, not greedy: with a greedy pool the first of two partitions' sorts took 393 MB of 512
    // and the other failed at 10 M rows rather than spill; a fair pool splits the spillable
    // share between them.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(MEMORY_LIMIT)))
        .build_arc()
        .expect("a memory pool and the OS's temp directory");
    SessionContext::new_with_config_rt(config, Arc::clone(&runtime))
}

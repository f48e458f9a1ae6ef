//! The data plane's data: the three source tables (spec §1), the deterministic generator that
//! writes them, and the sources the posting emulator reads them from.

pub mod clean;
pub mod delta;
pub mod engine;
pub mod generate;
pub mod lines;
pub mod pyrandom;
pub mod queries;
pub mod record;
pub mod report;
pub mod rollup;
pub mod store;
pub mod vocabulary;

use std::time::Instant;

/// Writes `rows` generated events into `location`, streaming in chunks (memory stays flat).
/// Returns the time it took.
pub async fn generate_into(
    location: &store::Location,
    rows: u64,
    seed: u64,
    force: bool,
    progress: &indicatif::ProgressBar,
) -> Result<std::time::Duration, store::StoreError> {
    const CHUNK: usize = 10_000;
    let started = Instant::now();
    let mut writer = store::Writer::create(location, force).await?;
    let mut generator = generate::Generator::new(seed, rows);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        chunk.clear();
        chunk.extend(generator.by_ref().take(CHUNK));
        if chunk.is_empty() {
            break;
        }
        writer.write(&chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    writer.finish().await?;
    Ok(started.elapsed())
}

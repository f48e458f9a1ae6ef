//! Views of what the engine does: the plan and drift as text, progress for a person on stderr,
//! and the streamed JSON events of `up --json` / `down --json`. Each view implements the
//! engine's [`Hooks`](crate::engine::hooks::Hooks) or formats its typed results; none changes
//! what the engine decides.

pub mod json;
pub mod markdown;
pub mod progress;
pub mod render;

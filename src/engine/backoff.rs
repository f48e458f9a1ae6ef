//! Waiting for a service: each pause longer than the last, up to a cap, with a little jitter so
//! parallel waiters do not poll in step.

use std::time::Duration;

pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff { next: first, max }
    }

    /// Sleeps, then makes the next sleep longer.
    pub async fn sleep(&mut self) {
        let jitter_ms = (uuid::Uuid::new_v4().as_u128()
            % u128::from((self.next.as_millis() as u64 / 4).max(1))) as u64;
        tokio::time::sleep(self.next + Duration::from_millis(jitter_ms)).await;
        self.next = self.next.mul_f32(1.6).min(self.max);
    }
}

//! API Gateway's control plane has fixed account quotas (CreateDeployment 1 per 5 s,
//! CreateRestApi 1 per 3 s, DeleteRestApi 1 per 30 s, CreateResource 5 per s). Calls share one
//! limiter per run, so parallel work never exceeds them. Rates can be changed with
//! `PINCTL_APIGW_RATES="CreateDeployment=0.2,DeleteRestApi=1"` (calls per second).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Default quotas, in calls per second.
pub const DEFAULT_RATES: &[(&str, f64)] = &[
    ("CreateDeployment", 1.0 / 5.0),
    ("CreateRestApi", 1.0 / 3.0),
    ("DeleteRestApi", 1.0 / 30.0),
    ("CreateResource", 5.0),
];

/// The minimum spacing of one operation's calls, and when the next may start.
type Slot = (Duration, Mutex<Option<Instant>>);

#[derive(Clone, Default)]
pub struct Limiter {
    slots: Arc<BTreeMap<String, Slot>>,
}

impl Limiter {
    pub fn new(rates: &[(String, f64)]) -> Self {
        let slots = rates
            .iter()
            .filter(|(_, r)| *r > 0.0)
            .map(|(op, r)| {
                (
                    op.clone(),
                    (Duration::from_secs_f64(1.0 / r), Mutex::new(None)),
                )
            })
            .collect();
        Limiter {
            slots: Arc::new(slots),
        }
    }

    pub fn from_env() -> Self {
        let mut rates: BTreeMap<String, f64> = DEFAULT_RATES
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        if let Ok(spec) = std::env::var("PINCTL_APIGW_RATES") {
            for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
                match part.split_once('=').map(|(k, v)| (k.trim(), v.trim().parse::<f64>())) {
                    Some((k, Ok(v))) => {
                        rates.insert(k.to_string(), v);
                    }
                    _ => tracing::warn!("PINCTL_APIGW_RATES: ignoring `{part}` (expected Operation=calls_per_second)"),
                }
            }
        }
        Limiter::new(&rates.into_iter().collect::<Vec<_>>())
    }

    /// Waits until `operation` may be called again.
    pub async fn acquire(&self, operation: &str) {
        let Some((spacing, next)) = self.slots.get(operation) else {
            return;
        };
        let mut next = next.lock().await;
        let now = Instant::now();
        let start = match *next {
            Some(t) if t > now => t,
            _ => now,
        };
        *next = Some(start + *spacing);
        drop(next);
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn parallel_callers_never_exceed_the_quota() {
        let limiter = Limiter::new(&[
            ("CreateDeployment".into(), 0.2),
            ("CreateResource".into(), 5.0),
        ]);
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire("CreateDeployment").await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap().duration_since(t0));
        }
        times.sort();
        // In any 5 s window at most one CreateDeployment starts.
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_secs(5), "{times:?}");
        }
        assert_eq!(times[0], Duration::ZERO, "the first call does not wait");
        // Other operations are not held up, and unknown ones are not limited.
        let before = Instant::now();
        limiter.acquire("GetRestApi").await;
        assert_eq!(Instant::now(), before);
    }
}

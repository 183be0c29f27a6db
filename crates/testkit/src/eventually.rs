//! "Eventually" assertions: poll a condition until it holds or time runs out.

use std::time::Duration;

use tokio::time::Instant;

/// Polls `check` every `poll` until it returns `true` or `timeout` has passed.
///
/// Returns whether the condition held. `check` always runs at least once, and once more at the
/// deadline, so a condition that becomes true during the last sleep is not missed. Use it as
/// `assert!(wait_until(..).await, "what should have happened")`.
pub async fn wait_until(
    timeout: Duration,
    poll: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_true_once_the_condition_holds() {
        let mut calls = 0_u32;
        let held = wait_until(
            Duration::from_secs(5),
            Duration::from_millis(1),
            async || {
                calls += 1;
                calls >= 3
            },
        )
        .await;
        assert!(held);
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn returns_false_when_time_runs_out() {
        let started = Instant::now();
        let mut calls = 0_u32;
        let held = wait_until(
            Duration::from_millis(50),
            Duration::from_millis(10),
            async || {
                calls += 1;
                false
            },
        )
        .await;
        assert!(!held);
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(calls >= 2, "checked {calls} times");
    }
}

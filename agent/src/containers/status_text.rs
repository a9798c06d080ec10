//! The human `STATUS` column of `docker ps`: `Up 3 seconds`, `Exited (3) 5 seconds ago`,
//! `Created`, following Docker's `units.HumanDuration`.

use std::time::Duration;

use crate::containers::time;
use crate::model::{ContainerState, ContainerStatus};

/// Docker's `HumanDuration`: "Less than a second", "1 second", "3 minutes", "About an hour", ...
pub(crate) fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    let hours_f = d.as_secs_f64() / 3600.0;
    let hours = (hours_f + 0.5) as u64;
    if seconds < 1 {
        "Less than a second".to_string()
    } else if seconds == 1 {
        "1 second".to_string()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (hours_f / 24.0 / 365.0) as u64)
    }
}

fn since(ts: &str, now: chrono::DateTime<chrono::Utc>) -> Duration {
    time::parse(ts)
        .and_then(|t| (now - t).to_std().ok())
        .unwrap_or(Duration::ZERO)
}

/// The `STATUS` text for a container in `state`, as of `now`.
pub(crate) fn status_text(state: &ContainerState, now: chrono::DateTime<chrono::Utc>) -> String {
    match state.status {
        ContainerStatus::Created => "Created".to_string(),
        ContainerStatus::Running => format!("Up {}", human_duration(since(&state.started_at, now))),
        ContainerStatus::Paused => {
            format!(
                "Up {} (Paused)",
                human_duration(since(&state.started_at, now))
            )
        }
        ContainerStatus::Restarting => format!(
            "Restarting ({}) {} ago",
            state.exit_code,
            human_duration(since(&state.finished_at, now))
        ),
        ContainerStatus::Removing => "Removal In Progress".to_string(),
        ContainerStatus::Exited => {
            if time::parse(&state.finished_at).is_none() {
                format!("Exited ({})", state.exit_code)
            } else {
                format!(
                    "Exited ({}) {} ago",
                    state.exit_code,
                    human_duration(since(&state.finished_at, now))
                )
            }
        }
        ContainerStatus::Dead => "Dead".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(3)), "3 seconds");
        assert_eq!(human_duration(Duration::from_secs(65)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(3600)), "About an hour");
        assert_eq!(human_duration(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }

    #[test]
    fn status_lines() {
        let now = chrono::Utc::now();
        let five_ago = (now - chrono::Duration::seconds(5))
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let exited = ContainerState {
            status: ContainerStatus::Exited,
            exit_code: 3,
            finished_at: five_ago.clone(),
            ..Default::default()
        };
        assert_eq!(status_text(&exited, now), "Exited (3) 5 seconds ago");
        let running = ContainerState {
            status: ContainerStatus::Running,
            started_at: five_ago,
            ..Default::default()
        };
        assert_eq!(status_text(&running, now), "Up 5 seconds");
        assert_eq!(status_text(&ContainerState::default(), now), "Created");
    }
}

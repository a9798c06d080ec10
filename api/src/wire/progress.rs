//! Docker's JSON message stream (what `docker pull` and `docker push` draw progress bars from):
//! one JSON object per line, `{"status":..,"id":..,"progressDetail":{..}}`, and a final
//! `{"errorDetail":{"message":..},"error":..}` line when the operation fails after output began.

use serde_json::{json, Map, Value};
use strata_agent::registry::ProgressEvent;

/// One progress line (with its newline).
pub fn event_line(event: &ProgressEvent) -> Vec<u8> {
    let mut object = Map::new();
    object.insert("status".into(), json!(event.status));
    if let Some(detail) = &event.detail {
        object.insert(
            "progressDetail".into(),
            json!({"current": detail.current, "total": detail.total}),
        );
    } else if event.layer_line {
        object.insert("progressDetail".into(), json!({}));
    }
    if let Some(id) = &event.id {
        object.insert("id".into(), json!(id));
    }
    line(Value::Object(object))
}

/// The error line that ends a failed stream.
pub fn error_line(message: &str) -> Vec<u8> {
    line(json!({"errorDetail": {"message": message}, "error": message}))
}

fn line(value: Value) -> Vec<u8> {
    let mut out = value.to_string().into_bytes();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_agent::registry::ProgressDetail;

    fn parse(bytes: Vec<u8>) -> Value {
        assert_eq!(bytes.last(), Some(&b'\n'));
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn lines_use_dockers_keys() {
        let downloading = ProgressEvent {
            id: Some("a3ed95caeb02".into()),
            status: "Downloading".into(),
            detail: Some(ProgressDetail {
                current: 10,
                total: 20,
            }),
            layer_line: true,
        };
        assert_eq!(
            parse(event_line(&downloading)),
            json!({"status": "Downloading", "id": "a3ed95caeb02",
                   "progressDetail": {"current": 10, "total": 20}})
        );
        let complete = ProgressEvent {
            id: Some("a3ed95caeb02".into()),
            status: "Pull complete".into(),
            detail: None,
            layer_line: true,
        };
        assert_eq!(
            parse(event_line(&complete)),
            json!({"status": "Pull complete", "id": "a3ed95caeb02", "progressDetail": {}})
        );
        let status = ProgressEvent {
            id: None,
            status: "Digest: sha256:ab".into(),
            detail: None,
            layer_line: false,
        };
        assert_eq!(
            parse(event_line(&status)),
            json!({"status": "Digest: sha256:ab"})
        );
    }

    #[test]
    fn errors_carry_detail_and_message() {
        assert_eq!(
            parse(error_line("boom")),
            json!({"errorDetail": {"message": "boom"}, "error": "boom"})
        );
    }
}

//! Image answers: `docker images`, `docker image inspect`, `docker history`, `docker rmi`,
//! `docker load` progress lines.

use bollard_stubs::models::{
    DriverData, ImageConfig, ImageDeleteResponseItem, ImageHistoryResponseItem, ImageInspect,
    ImageInspectRootFs, ImageSummary,
};
use strata_agent::model;

use super::to_hash_map;

/// A line of `GET /images/json`.
pub fn summary(s: &model::ImageSummary) -> ImageSummary {
    ImageSummary {
        id: s.id.clone(),
        parent_id: s.parent_id.clone(),
        repo_tags: s.repo_tags.clone(),
        repo_digests: s.repo_digests.clone(),
        created: s.created,
        size: s.size,
        shared_size: -1,
        labels: to_hash_map(&s.labels),
        containers: s.containers,
        manifests: None,
        descriptor: None,
    }
}

/// The image's runtime config as `docker image inspect` shows it under `Config`.
pub fn image_config(c: &model::ImageRuntimeConfig) -> ImageConfig {
    ImageConfig {
        user: Some(c.user.clone().unwrap_or_default()),
        exposed_ports: (!c.exposed_ports.is_empty()).then(|| c.exposed_ports.clone()),
        env: Some(c.env.clone()),
        cmd: c.cmd.clone(),
        volumes: (!c.volumes.is_empty()).then(|| c.volumes.clone()),
        working_dir: Some(c.working_dir.clone().unwrap_or_default()),
        entrypoint: c.entrypoint.clone(),
        labels: Some(to_hash_map(&c.labels)),
        stop_signal: c.stop_signal.clone(),
        ..Default::default()
    }
}

/// The storage description shown as `GraphDriver`.
pub fn driver_data(g: &model::GraphDriverData) -> DriverData {
    DriverData {
        name: g.name.clone(),
        data: to_hash_map(&g.data),
    }
}

/// `GET /images/{name}/json`.
pub fn inspect(d: &model::ImageDetails) -> ImageInspect {
    ImageInspect {
        id: Some(d.id.clone()),
        repo_tags: Some(d.repo_tags.clone()),
        repo_digests: Some(d.repo_digests.clone()),
        comment: Some(d.comment.clone()),
        created: (!d.created.is_empty()).then(|| d.created.clone()),
        author: Some(d.author.clone()),
        config: Some(image_config(&d.config)),
        architecture: Some(d.architecture.clone()),
        os: Some(d.os.clone()),
        size: Some(d.size),
        graph_driver: Some(driver_data(&d.graph_driver)),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".to_string(),
            layers: Some(d.layers.clone()),
        }),
        ..Default::default()
    }
}

/// One row of `GET /images/{name}/history`.
pub fn history(h: &model::HistoryEntry) -> ImageHistoryResponseItem {
    ImageHistoryResponseItem {
        id: h.id.clone(),
        created: h.created,
        created_by: h.created_by.clone(),
        tags: h.tags.clone(),
        size: h.size,
        comment: h.comment.clone(),
    }
}

/// One row of the `DELETE /images/{name}` answer.
pub fn delete_item(item: &model::ImageDeleteItem) -> ImageDeleteResponseItem {
    match item {
        model::ImageDeleteItem::Untagged(name) => ImageDeleteResponseItem {
            untagged: Some(name.clone()),
            deleted: None,
        },
        model::ImageDeleteItem::Deleted(id) => ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id.clone()),
        },
    }
}

/// The `docker load` answer: one JSON message per line, `{"stream":"Loaded image: x\n"}`.
pub fn load_progress(report: &model::LoadReport) -> Vec<u8> {
    let mut out = Vec::new();
    for message in &report.messages {
        let line = serde_json::json!({ "stream": format!("{message}\n") });
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_progress_is_json_lines() {
        let report = model::LoadReport {
            messages: vec!["Loaded image: busybox:latest".into()],
        };
        let text = String::from_utf8(load_progress(&report)).unwrap();
        assert_eq!(text, "{\"stream\":\"Loaded image: busybox:latest\\n\"}\n");
    }

    #[test]
    fn delete_items_use_docker_keys() {
        let json = serde_json::to_value(vec![
            delete_item(&model::ImageDeleteItem::Untagged("a:1".into())),
            delete_item(&model::ImageDeleteItem::Deleted("sha256:ab".into())),
        ])
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"Untagged": "a:1"}, {"Deleted": "sha256:ab"}])
        );
    }
}

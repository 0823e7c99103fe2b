//! Prometheus metrics: one process-wide recorder (the `metrics` facade is global), rendered at
//! `GET /metrics`. Histograms use explicit buckets so they render as Prometheus histograms.
//!
//! Names (all prefixed `feedgate_`): upstream state/reconnects/stalls/auth failures/malformed
//! frames/ticks, REST fallback activity, hub ticks in/messages out/conflated/encoded bytes/REST
//! quotes dropped behind fresher WebSocket values (`hub_rest_superseded_total`), client
//! connections/messages/outbox depth, message sizes and end-to-end tick latency.
//!
//! A clustered node labels every metric with `node` (`FEEDGATE_NODE`); role `all` does not.
//!
//! Nothing is recorded per message on the hot path: the hub records once per tick batch
//! (`message_bytes` is the batch's mean encoded size), clients once per write batch.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets (seconds): 50 µs … 5 s.
const LATENCY: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];
/// Outbox depth buckets (pending instruments at a drain).
const DEPTH: &[f64] = &[
    0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 3000.0,
];
/// Message size buckets (bytes).
const SIZES: &[f64] = &[
    64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 16384.0, 65536.0,
];

/// Installs the recorder on first use. `None` when another recorder was installed first (an
/// embedding program's own); feedgate's metrics then go there and `/metrics` says so.
pub fn handle() -> Option<&'static PrometheusHandle> {
    install(None)
}

/// Installs the recorder, every metric labelled `node="<node>"` when `node` is given (a
/// clustered node, so one Prometheus can scrape them all apart). The first call decides:
/// the runtime makes it before any task records.
pub fn install(node: Option<&str>) -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| match builder(node).and_then(PrometheusBuilder::install_recorder) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "prometheus recorder not installed; /metrics is unavailable");
                None
            }
        })
        .as_ref()
}

/// The exporter's configuration: explicit buckets, and the node label when clustered.
fn builder(node: Option<&str>) -> Result<PrometheusBuilder, BuildError> {
    let mut builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_latency_seconds".into()), LATENCY)?
        .set_buckets_for_metric(Matcher::Suffix("_outbox_depth".into()), DEPTH)?
        .set_buckets_for_metric(Matcher::Suffix("_bytes".into()), SIZES)?;
    if let Some(node) = node {
        builder = builder.add_global_label("node", node);
    }
    Ok(builder)
}

/// Periodic upkeep the exporter needs (drains histogram buffers).
pub async fn upkeep(shutdown: tokio_util::sync::CancellationToken) {
    let Some(h) = handle() else { return };
    // Histograms buffer raw samples until upkeep; every second keeps that buffer small under load.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => h.run_upkeep(),
        }
    }
}

/// `GET /metrics`.
pub async fn render() -> Response {
    match handle() {
        Some(h) => {
            let mut resp = h.render().into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        None => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable: another metrics recorder is installed in this process\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_prometheus_text() {
        assert!(handle().is_some(), "recorder installed");
        metrics::counter!("feedgate_test_counter_total").increment(3);
        metrics::histogram!("feedgate_test_latency_seconds").record(0.0003);
        let resp = render().await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("feedgate_test_counter_total 3"), "{text}");
        assert!(
            text.contains("feedgate_test_latency_seconds_bucket{le=\"0.0005\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn a_clustered_node_labels_every_metric_with_its_name() {
        let render = |node: Option<&str>| {
            let recorder = builder(node).unwrap().build_recorder();
            let handle = recorder.handle();
            metrics::with_local_recorder(&recorder, || {
                metrics::counter!("feedgate_test_labelled_total").increment(2);
                metrics::counter!("feedgate_test_labelled_total", "shard" => "0").increment(1);
            });
            handle.render()
        };
        let text = render(Some("edge-1"));
        assert!(
            text.contains("feedgate_test_labelled_total{node=\"edge-1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("feedgate_test_labelled_total{shard=\"0\",node=\"edge-1\"} 1")
                || text.contains("feedgate_test_labelled_total{node=\"edge-1\",shard=\"0\"} 1"),
            "{text}"
        );
        let text = render(None);
        assert!(text.contains("feedgate_test_labelled_total 2"), "{text}");
    }
}

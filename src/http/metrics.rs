//! Prometheus metrics at `/metrics`, in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
pub struct Metrics {
    /// (route pattern, status) to count.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latencies: Mutex<BTreeMap<String, Histogram>>,
    pub objects_stored: AtomicU64,
    /// Shared with IntelMQ's TCP intake, which stores envelopes too.
    pub envelopes_stored: Arc<AtomicU64>,
    /// Stored envelopes left out of IntelMQ feeds because their flat event would pass `max_content_length`;
    /// shared with the pushes to IntelMQ, which read the same feeds.
    pub feed_events_skipped: Arc<AtomicU64>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route.to_owned(), status)).or_default() += 1;
        }
        if let Ok(mut latencies) = self.latencies.lock() {
            let histogram = latencies.entry(route.to_owned()).or_default();
            let seconds = elapsed.as_secs_f64();
            for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            histogram.count += 1;
            histogram.sum += seconds;
        }
    }

    pub fn count_stored(&self, counter: &AtomicU64, stored: usize) {
        counter.fetch_add(stored as u64, Ordering::Relaxed);
    }

    /// The exposition text; `store_bytes` is read by the caller, from the store.
    pub fn render(&self, store_bytes: Option<u64>) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "stixgate_http_requests_total",
            "counter",
            "HTTP requests by route and status.",
        );
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "stixgate_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        let name = "stixgate_http_request_duration_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "Time to answer HTTP requests, by route.",
        );
        if let Ok(latencies) = self.latencies.lock() {
            for (route, histogram) in latencies.iter() {
                let route = escape(route);
                for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    histogram.count
                );
                let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", histogram.sum);
                let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", histogram.count);
            }
        }
        for (name, help, count) in [
            (
                "stixgate_objects_stored_total",
                "STIX object versions stored through TAXII POST.",
                self.objects_stored.load(Ordering::Relaxed),
            ),
            (
                "stixgate_envelopes_stored_total",
                "Envelopes stored (duplicates not counted).",
                self.envelopes_stored.load(Ordering::Relaxed),
            ),
            (
                "stixgate_log_lines_dropped_total",
                "Log lines dropped because the log could not take them (full disk, closed or full pipe).",
                crate::logging::lines_dropped(),
            ),
            (
                "stixgate_intelmq_events_skipped_total",
                "Stored envelopes left out of IntelMQ feeds, streams and pushes: their flat event would be past its budget.",
                self.feed_events_skipped.load(Ordering::Relaxed),
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {count}");
        }
        if let Some(bytes) = store_bytes {
            header(
                &mut out,
                "stixgate_store_size_bytes",
                "gauge",
                "Bytes the store takes on disk.",
            );
            let _ = writeln!(out, "stixgate_store_size_bytes {bytes}");
        }
        out
    }
}

pub(super) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

pub(super) fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record("/api/", 200, Duration::from_millis(2));
        metrics.record("/api/", 200, Duration::from_millis(20));
        metrics.record("/api/", 404, Duration::from_secs(10));
        metrics.count_stored(&metrics.objects_stored, 3);
        let text = metrics.render(Some(42));
        assert!(
            text.contains("stixgate_http_requests_total{route=\"/api/\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "stixgate_http_request_duration_seconds_bucket{route=\"/api/\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "stixgate_http_request_duration_seconds_bucket{route=\"/api/\",le=\"0.025\"} 2"
        ));
        assert!(text.contains(
            "stixgate_http_request_duration_seconds_bucket{route=\"/api/\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("stixgate_objects_stored_total 3"));
        assert!(text.contains("stixgate_store_size_bytes 42"));
    }
}

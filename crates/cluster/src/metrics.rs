//! A node's figures in Prometheus' text exposition format (version 0.0.4): what
//! `shoal node --metrics` serves.
//!
//! # What it owns
//! [`Metrics`], a handle that reads the node's runtime and shared state when asked, and
//! the text it renders. Serving it over HTTP is the caller's (the CLI's) concern.
//!
//! # The figures
//! Runtime: live processes, spawns and exits, processes queued for a worker, workers,
//! the memory budget and its use. Node: messages and frames in and out, the backlog,
//! messages refused on arrival, names held here. Per peer (labels `peer`, the id, and
//! `name`): whether it is up (1) or was declared down (0), and the last ping's round
//! trip in seconds.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use shoal_scheduler::Runtime;

use crate::transport::Shared;

/// A node's figures, read when rendered (module docs). Cheap to clone; it outlives its
/// node harmlessly (it then renders the last state).
#[derive(Clone)]
pub struct Metrics {
    pub(crate) runtime: Runtime,
    pub(crate) shared: Arc<Shared>,
    pub(crate) name: String,
    pub(crate) cluster: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("node", &self.shared.me)
            .finish()
    }
}

impl Metrics {
    /// The figures now, as Prometheus text.
    pub fn render(&self) -> String {
        let stats = self.runtime.stats();
        let shared = &self.shared;
        let mut t = Text::default();
        let id = shared.me.to_string();
        t.gauge("shoal_node_info", "this node: its id, name and cluster");
        t.sample(
            "shoal_node_info",
            &[
                ("node", &id),
                ("name", &self.name),
                ("cluster", &self.cluster),
            ],
            1.0,
        );
        let figures = [
            (
                "shoal_processes_live",
                "gauge",
                "live processes",
                stats.live as f64,
            ),
            (
                "shoal_processes_spawned_total",
                "counter",
                "processes spawned since the node started",
                stats.spawned as f64,
            ),
            (
                "shoal_processes_exited_total",
                "counter",
                "processes exited since the node started",
                stats.exited as f64,
            ),
            (
                "shoal_run_queue",
                "gauge",
                "processes queued for a worker, on all workers",
                stats.queued as f64,
            ),
            (
                "shoal_workers",
                "gauge",
                "worker threads",
                stats.workers as f64,
            ),
            (
                "shoal_memory_used_bytes",
                "gauge",
                "bytes charged to the memory budget",
                stats.memory_used as f64,
            ),
            (
                "shoal_memory_budget_bytes",
                "gauge",
                "the memory budget",
                stats.memory_budget as f64,
            ),
            (
                "shoal_messages_in_total",
                "counter",
                "messages from other nodes",
                shared.messages_in.load(Ordering::Relaxed) as f64,
            ),
            (
                "shoal_messages_out_total",
                "counter",
                "messages to other nodes",
                shared.messages_out.load(Ordering::Relaxed) as f64,
            ),
            (
                "shoal_frames_in_total",
                "counter",
                "frames (signals of every kind) from other nodes",
                shared.frames_in.load(Ordering::Relaxed) as f64,
            ),
            (
                "shoal_frames_out_total",
                "counter",
                "frames published to other nodes",
                shared.frames_out.load(Ordering::Relaxed) as f64,
            ),
            (
                "shoal_backlog_bytes",
                "gauge",
                "bytes of signals queued for other nodes and not yet published",
                shared.backlog.load(Ordering::Relaxed) as f64,
            ),
            (
                "shoal_messages_refused_in_total",
                "counter",
                "messages from other nodes their live receivers could not take",
                shared.refused_in.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, kind, help, value) in figures {
            t.family(name, kind, help);
            t.sample(name, &[], value);
        }
        let peers = shared.peers.lock();
        t.gauge(
            "shoal_peer_up",
            "1 for another node up, 0 for one declared down",
        );
        let mut up: Vec<_> = peers.up().collect();
        up.sort_by_key(|(n, _)| *n);
        for (node, peer) in &up {
            let node = node.to_string();
            t.sample(
                "shoal_peer_up",
                &[("peer", &node), ("name", &peer.name)],
                1.0,
            );
        }
        let mut down: Vec<_> = peers.down().collect();
        down.sort();
        for node in down {
            t.sample(
                "shoal_peer_up",
                &[("peer", &node.to_string()), ("name", "")],
                0.0,
            );
        }
        t.gauge(
            "shoal_peer_round_trip_seconds",
            "the last ping's round trip to another node up, in order with its signals",
        );
        for (node, peer) in &up {
            if let Some(rtt) = peer.round_trip {
                let node = node.to_string();
                let labels = [("peer", node.as_str()), ("name", peer.name.as_str())];
                t.sample("shoal_peer_round_trip_seconds", &labels, rtt.as_secs_f64());
            }
        }
        t.0
    }
}

/// Prometheus text, line by line.
#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn gauge(&mut self, name: &str, help: &str) {
        self.family(name, "gauge", help);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"{}\"", escape(value));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value as the format writes it: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_one_line_with_its_labels_escaped() {
        let mut t = Text::default();
        t.family("shoal_x_total", "counter", "things");
        t.sample("shoal_x_total", &[], 3.0);
        t.sample("shoal_y", &[("name", "a\"b\\c\nd"), ("peer", "7")], 0.25);
        assert_eq!(
            t.0,
            "# HELP shoal_x_total things\n# TYPE shoal_x_total counter\nshoal_x_total 3\n\
             shoal_y{name=\"a\\\"b\\\\c\\nd\",peer=\"7\"} 0.25\n"
        );
    }
}

//! `--trace FILE`: the schedule as Chrome Trace Event JSON, which Perfetto
//! (ui.perfetto.dev) and chrome://tracing open.
//!
//! One track per worker, one slice per quantum named by the pid (with what the process
//! did next as an argument), and instant events for spawns, exits and wake-ups; those
//! that happened off the workers (host code, the timer thread) get a track of their own.
//! The runtime bounds the record (see `shoal::Trace`), so the file stays small enough for
//! a browser. Times are microseconds on the runtime's clock.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{Value, json};
use shoal::{State, Trace, TraceKind, Track};

/// The trace's process id: one runtime.
const PID: u32 = 1;

fn tid(track: Track, workers: usize) -> usize {
    match track {
        Track::Worker(i) => i + 1,
        Track::Other => workers + 1,
    }
}

fn after_name(state: State) -> &'static str {
    match state {
        State::Runnable => "preempted or yielded",
        State::Waiting(_) => "waiting",
        State::Exiting | State::Exited => "exited",
        _ => "other",
    }
}

/// The JSON events of `trace`, metadata first.
fn events(trace: &Trace) -> impl Iterator<Item = Value> + '_ {
    let names = (0..=trace.workers).map(move |i| {
        let name = if i < trace.workers {
            format!("worker {i}")
        } else {
            "host and timers".to_owned()
        };
        json!({"name": "thread_name", "ph": "M", "pid": PID, "tid": i + 1, "args": {"name": name}})
    });
    let process = std::iter::once(json!({
        "name": "process_name", "ph": "M", "pid": PID, "tid": 0,
        "args": {"name": format!("shoal runtime ({} events dropped)", trace.dropped)}
    }));
    let body = trace.events.iter().map(move |event| {
        let ts = event.start_ns as f64 / 1_000.0;
        let tid = tid(event.track, trace.workers);
        let pid_name = event.pid.to_string();
        match event.kind {
            TraceKind::Quantum { after } => json!({
                "name": pid_name, "cat": "quantum", "ph": "X", "pid": PID, "tid": tid,
                "ts": ts, "dur": event.end_ns.saturating_sub(event.start_ns) as f64 / 1_000.0,
                "args": {"then": after_name(after)}
            }),
            kind => {
                let what = match kind {
                    TraceKind::Spawn => "spawn",
                    TraceKind::Exit => "exit",
                    TraceKind::Wake => "wake",
                    _ => "event",
                };
                json!({
                    "name": format!("{what} {pid_name}"), "cat": what, "ph": "i", "s": "t",
                    "pid": PID, "tid": tid, "ts": ts
                })
            }
        }
    });
    process.chain(names).chain(body)
}

/// Writes `trace` to `path`.
pub(crate) fn write(path: &Path, trace: &Trace) -> anyhow::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
    for (i, event) in events(trace).enumerate() {
        if i > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut out, &event)?;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal::{Pid, TraceEvent};

    #[test]
    fn a_trace_file_is_json_with_one_named_track_per_worker_and_a_slice_per_quantum() {
        let trace = Trace {
            events: vec![
                TraceEvent {
                    kind: TraceKind::Spawn,
                    pid: Pid::new(7, 0),
                    track: Track::Other,
                    start_ns: 1_000,
                    end_ns: 1_000,
                },
                TraceEvent {
                    kind: TraceKind::Quantum {
                        after: State::Runnable,
                    },
                    pid: Pid::new(7, 0),
                    track: Track::Worker(1),
                    start_ns: 2_000,
                    end_ns: 5_000,
                },
            ],
            dropped: 3,
            workers: 2,
        };
        let path = std::env::temp_dir().join(format!("shoal-trace-{}.json", std::process::id()));
        write(&path, &trace).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).ok();
        let events = v["traceEvents"].as_array().unwrap();
        let threads: Vec<_> = events
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| e["args"]["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(threads, ["worker 0", "worker 1", "host and timers"]);
        let slice = events.iter().find(|e| e["ph"] == "X").unwrap();
        assert_eq!(slice["tid"], 2);
        assert_eq!(slice["ts"], 2.0);
        assert_eq!(slice["dur"], 3.0);
        assert_eq!(slice["name"], Pid::new(7, 0).to_string());
        let spawn = events.iter().find(|e| e["ph"] == "i").unwrap();
        assert_eq!(spawn["tid"], 3);
    }
}

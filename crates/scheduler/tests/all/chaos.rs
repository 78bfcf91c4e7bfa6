//! Chaos, seeded: thousands of guests in a web of links and monitors from watchers that
//! trap exits, ended at random by kills, exit signals with reasons, traps and normal
//! exits, amid sends to the dead. Every relation must report the end it watched
//! exactly once, with the reason the process really ended with, and nothing may leak.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use shoal_scheduler::{
    ExitReason, Held, MessageKind, Pid, Runtime, SendError, SignalReason, SpawnOptions,
};

use crate::{HANG, splitmix};

/// `main(how)`: waits for one message, then ends by `how`: 0 returns (`normal(0)`),
/// 1 traps (`unreachable`), 2 calls `exit(7)`, 3 waits for ever (ended by the host).
const TARGET: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $how i64) (result i32)
    (drop (call $receive (i64.const -1)))
    (if (i64.eq (local.get $how) (i64.const 1)) (then unreachable))
    (if (i64.eq (local.get $how) (i64.const 2)) (then (call $exit (i32.const 7))))
    (if (i64.eq (local.get $how) (i64.const 3)) (then (drop (call $receive (i64.const -1)))))
    (i32.const 0)))"#;

/// Guests per run, and watchers, in `cargo test`; `SHOAL_CHAOS_SCALE=K` multiplies both
/// for a longer run (BENCHMARKS.md reports K = 5: 10,000 guests, 200 watchers).
const TARGETS: usize = 2_000;
const WATCHERS: usize = 40;

/// `SHOAL_CHAOS_SCALE`, or 1.
fn scale() -> usize {
    std::env::var("SHOAL_CHAOS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}
/// Relations per watcher, half links and half monitors at random.
const RELATIONS: usize = 60;

/// Waits until what `rt` holds is what `expected` makes of it, at most [`HANG`]; fails
/// with the last reading otherwise.
fn settle_to(rt: &Runtime, expected: impl Fn(&Held) -> Held) {
    let deadline = Instant::now() + HANG;
    let mut held = rt.held();
    while held != expected(&held) {
        assert!(
            Instant::now() < deadline,
            "still held: {held:?}, expected {:?}",
            expected(&held)
        );
        std::thread::sleep(Duration::from_millis(1));
        held = rt.held();
    }
}

/// What a watcher saw: the process it watched, by link or monitor, and the reason.
type Seen = Vec<(usize, Pid, bool, ExitReason)>;

#[test]
fn every_link_and_monitor_reports_each_random_end_once_with_its_real_reason() {
    for seed in [1, 2] {
        chaos(seed);
    }
}

fn chaos(seed: u64) {
    let (targets_n, watchers_n) = (TARGETS * scale(), WATCHERS * scale());
    let mut rng = seed;
    let rt = Runtime::builder()
        .workers(2)
        .capacity(targets_n + watchers_n + 8)
        .build()
        .unwrap();
    let module = rt.compile_wat(TARGET).unwrap();
    let hows: Vec<u64> = (0..targets_n).map(|_| splitmix(&mut rng) % 4).collect();
    let targets: Vec<_> = hows
        .iter()
        .map(|&how| rt.spawn(&module, "main", how as i64).unwrap())
        .collect();
    let pids: Vec<Pid> = targets.iter().map(|h| h.pid()).collect();

    // Watchers link to or monitor their targets, trapping exits, and then report every
    // EXIT and DOWN until each relation has reported once.
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let ready = Arc::new(AtomicUsize::new(0));
    let mut relations: HashMap<(usize, Pid), bool> = HashMap::new();
    let mut watchers = Vec::new();
    for w in 0..watchers_n {
        let mut mine = Vec::new();
        while mine.len() < RELATIONS {
            let pid = pids[(splitmix(&mut rng) % targets_n as u64) as usize];
            if relations.contains_key(&(w, pid)) {
                continue;
            }
            let link = splitmix(&mut rng).is_multiple_of(2);
            relations.insert((w, pid), link);
            mine.push((pid, link));
        }
        let (seen, ready) = (seen.clone(), ready.clone());
        let watcher = rt
            .spawn_native(SpawnOptions::new(), move |cx| async move {
                cx.trap_exit(true);
                for &(pid, link) in &mine {
                    if link {
                        cx.link(pid);
                    } else {
                        cx.monitor(pid);
                    }
                }
                ready.fetch_add(1, Ordering::SeqCst);
                for _ in 0..mine.len() {
                    let Some(msg) = cx.receive(None, Some(HANG)).await else {
                        return -1;
                    };
                    let (link, reason) = match msg.kind {
                        MessageKind::Exit { reason } => (true, reason),
                        MessageKind::Down { reason, .. } => (false, reason),
                        MessageKind::Data => return -2,
                    };
                    let from = msg.from.expect("a signal names its process");
                    seen.lock().push((w, from, link, reason));
                }
                // Nothing more may come: each relation reports once.
                match cx.receive(None, Some(Duration::from_millis(50))).await {
                    Some(_) => -3,
                    None => 0,
                }
            })
            .unwrap();
        watchers.push(watcher);
    }
    crate::wait_until(format_args!("{watchers_n} watchers to be ready"), || {
        (ready.load(Ordering::SeqCst) == watchers_n).then_some(())
    });
    // Every relation is held, each on both sides, and nothing else is.
    let links = relations.values().filter(|link| **link).count();
    let monitors = relations.len() - links;
    let held = rt.held();
    assert_eq!(
        (held.links, held.monitors, held.watchers, held.aliases),
        (2 * links, monitors, monitors, 0),
        "{held:?}"
    );

    // The chaos: every target is killed, sent an exit signal with a reason, or sent the
    // message that ends it its own way, in a random order; between them, sends to
    // random targets, which must be refused once the target is seen dead.
    let mut order: Vec<usize> = (0..targets_n).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (splitmix(&mut rng) % (i as u64 + 1)) as usize);
    }
    let mut waits_again = Vec::new();
    for &t in &order {
        let pid = pids[t];
        match splitmix(&mut rng) % 4 {
            0 => drop(rt.kill(pid)),
            1 => drop(rt.exit(
                pid,
                SignalReason::Reason(ExitReason::Custom {
                    code: (t % 100) as i32,
                    data: vec![t as u8],
                }),
            )),
            // A random send below may have ended it already.
            _ => {
                if rt.send(pid, 0, [1]).is_ok() && hows[t] == 3 {
                    waits_again.push(pid);
                }
            }
        }
        let other = &targets[(splitmix(&mut rng) % targets_n as u64) as usize];
        let seen_dead = other.try_exit().is_some();
        let sent = rt.send(other.pid(), 0, []);
        if seen_dead {
            assert_eq!(sent, Err(SendError::NoProc(other.pid())));
        }
    }
    // Those that wait again after their message are ended by the host.
    for pid in waits_again {
        let _ = rt.kill(pid);
    }
    let mut ended: HashMap<Pid, ExitReason> = HashMap::new();
    for target in &targets {
        let exit = target.wait();
        assert!(
            !matches!(exit.reason, ExitReason::HostError { .. }),
            "{}: {}",
            exit.pid,
            exit.reason
        );
        assert_eq!(
            rt.send(exit.pid, 0, []),
            Err(SendError::NoProc(exit.pid)),
            "a message to the dead is refused"
        );
        ended.insert(exit.pid, exit.reason);
    }
    let kinds: std::collections::HashSet<_> = ended.values().map(ExitReason::kind).collect();
    assert_eq!(
        kinds.len(),
        4,
        "normal, trap, killed and custom ends all happened: {kinds:?}"
    );
    for watcher in &watchers {
        assert_eq!(
            watcher.wait().reason,
            ExitReason::Normal { code: 0 },
            "a watcher missed a signal or got one too many"
        );
    }

    let seen = seen.lock();
    assert_eq!(seen.len(), relations.len(), "one report per relation");
    for (w, pid, link, reason) in seen.iter() {
        assert_eq!(
            relations.get(&(*w, *pid)),
            Some(link),
            "watcher {w} got a report of the wrong kind, or twice, for {pid}"
        );
        assert_eq!(
            reason, &ended[pid],
            "watcher {w} was told a wrong reason for {pid}"
        );
    }
    let distinct: std::collections::HashSet<_> =
        seen.iter().map(|(w, pid, _, _)| (*w, *pid)).collect();
    assert_eq!(
        distinct.len(),
        relations.len(),
        "no relation reported twice"
    );

    // Everyone has ended: nothing is held, no timer waits.
    settle_to(&rt, |held| Held {
        timer_entries: held.timer_entries,
        ..Held::default()
    });
    rt.shutdown(Duration::from_secs(1));
    let stats = rt.stats();
    assert_eq!(stats.live, 0);
    assert_eq!(stats.memory_used, 0, "every charge given back");
    assert_eq!(rt.registered(), 0);
}

#[test]
fn spawns_racing_a_shutdown_either_run_to_an_exit_or_are_refused() {
    let rt = Arc::new(Runtime::builder().workers(2).build().unwrap());
    let module = rt.compile_wat(TARGET).unwrap();
    let spawner = {
        let rt = rt.clone();
        std::thread::spawn(move || {
            let mut handles = Vec::new();
            loop {
                match rt.spawn(&module, "main", 0) {
                    Ok(handle) => handles.push(handle),
                    Err(shoal_scheduler::SpawnError::ShuttingDown) => return handles,
                    Err(other) => panic!("refused for another reason: {other}"),
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    rt.shutdown(Duration::ZERO);
    let handles = spawner.join().unwrap();
    assert!(!handles.is_empty());
    for handle in &handles {
        // Each ends once: blocked in receive, every one is ended by the shutdown.
        let exit = crate::exit_of(handle);
        assert!(
            !matches!(exit.reason, ExitReason::HostError { .. }),
            "{}",
            exit.reason
        );
    }
    assert_eq!(rt.stats().live, 0);
    assert_eq!(rt.stats().memory_used, 0);
}

/// Supervisors under the top one, and guests under each, in `cargo test`;
/// `SHOAL_CHAOS_SCALE=K` multiplies the supervisors.
const SUPERVISORS: usize = 20;
const GUESTS_PER_SUPERVISOR: usize = 10;
/// Kills and exit signals the host deals out at random.
const BLOWS: usize = 400;

#[test]
fn a_supervision_tree_under_random_kills_restarts_every_child_and_leaves_no_orphan() {
    for seed in [3, 4] {
        supervision_chaos(seed);
    }
}

fn supervision_chaos(seed: u64) {
    use shoal_scheduler::{ChildSpec, ProcessHandle, Restart, Strategy, Supervisor};

    let supervisors = SUPERVISORS * scale();
    let mut rng = seed;
    let rt = Runtime::builder()
        .workers(2)
        .capacity(supervisors * (GUESTS_PER_SUPERVISOR + 1) * 2 + 16)
        .build()
        .unwrap();
    let module = rt.compile_wat(TARGET).unwrap();
    // Every process any supervisor ever started, to check afterwards that each one that
    // is not running any more has exited: none is left behind by a supervisor's death.
    let started: Arc<Mutex<Vec<ProcessHandle>>> = Arc::default();
    // Restarts are expected by the hundred: an intensity no chaos here reaches.
    let unlimited = (1_000_000, Duration::from_secs(1));
    let mut top = Supervisor::builder(Strategy::OneForOne).intensity(unlimited.0, unlimited.1);
    for s in 0..supervisors {
        let strategy = match splitmix(&mut rng) % 3 {
            0 => Strategy::OneForOne,
            1 => Strategy::OneForAll,
            _ => Strategy::RestForOne,
        };
        let mut inner = Supervisor::builder(strategy).intensity(unlimited.0, unlimited.1);
        for g in 0..GUESTS_PER_SUPERVISOR {
            let (module, started) = (module.clone(), started.clone());
            // `how` 3: waits for ever, so it ends only by the chaos or a shutdown.
            inner = inner.child(ChildSpec::new(
                format!("g{g}"),
                Restart::Permanent,
                move |cx: &shoal_scheduler::NativeContext| {
                    let handle = cx.spawn_link(&module, "main", 3)?;
                    started.lock().push(handle.clone());
                    Ok(handle.pid())
                },
            ));
        }
        top = top.child(ChildSpec::supervisor(
            format!("s{s}"),
            Restart::Permanent,
            inner,
        ));
    }
    let top = top.start(&rt).unwrap();
    let children = |sup: Pid| Supervisor::which_children_wait(&rt, sup, HANG).unwrap();
    let inner_pids = || -> Vec<Pid> { children(top.pid()).iter().filter_map(|c| c.pid).collect() };

    let mut kills = 0;
    let mut victims = Vec::new();
    for _ in 0..BLOWS {
        let inner = inner_pids();
        assert_eq!(
            inner.len(),
            supervisors,
            "the top supervisor restarted every one"
        );
        let sup = inner[(splitmix(&mut rng) % supervisors as u64) as usize];
        // One blow in ten falls on a supervisor, taking its guests down through its links.
        let victim = if splitmix(&mut rng).is_multiple_of(10) {
            Some(sup)
        } else {
            Supervisor::which_children_wait(&rt, sup, HANG)
                .ok()
                .and_then(|c| c[(splitmix(&mut rng) % c.len() as u64) as usize].pid)
        };
        let Some(victim) = victim else { continue };
        let reason = match splitmix(&mut rng) % 2 {
            0 => SignalReason::Kill,
            _ => SignalReason::Reason(ExitReason::Custom {
                code: 9,
                data: b"chaos".to_vec(),
            }),
        };
        // The victim may have gone already, in a restart of its siblings.
        if let Ok(handle) = rt.handle(victim)
            && rt.exit(victim, reason).is_ok()
        {
            kills += 1;
            victims.push(handle);
        }
    }
    assert!(kills > BLOWS / 2, "the chaos landed: {kills} of {BLOWS}");
    // An exit signal ends its victim later, on a worker: until every victim's exit is
    // published, a supervisor may still learn of one and start a child after the tree
    // looked settled. A published exit has its exit signals delivered (the executor's
    // exit sequence), so they are in the supervisors' mailboxes ahead of the child-list
    // requests below.
    for victim in &victims {
        crate::exit_of(victim);
    }

    // The tree settles: every supervisor has all its guests, each alive and distinct.
    let mut running = std::collections::HashSet::new();
    crate::wait_until("the tree to settle", || {
        running.clear();
        for sup in inner_pids() {
            // A supervisor being restarted answers nothing yet: look again.
            let listed = Supervisor::which_children_wait(&rt, sup, HANG).ok()?;
            for child in listed {
                let pid = child.pid?;
                rt.process_info(pid)?;
                running.insert(pid);
            }
        }
        (running.len() == supervisors * GUESTS_PER_SUPERVISOR).then_some(())
    });
    // Each process of the tree holds the one link with its supervisor and nothing else:
    // no monitor or alias of a supervisor's requests outlived them, no timer waits; each
    // guest one memory and one stack of the arenas, and no ended guest any.
    // (Processes that served the listings above may still be ending: wait for them.)
    let tree = 1 + supervisors * (1 + GUESTS_PER_SUPERVISOR);
    let guests = supervisors * GUESTS_PER_SUPERVISOR;
    settle_to(&rt, |held| Held {
        processes: tree,
        links: 2 * (tree - 1),
        timer_entries: held.timer_entries,
        guests,
        memory_slots: guests,
        stack_slots: guests,
        ..Held::default()
    });
    // Every guest started and not running now has exited: no orphan of a dead supervisor.
    let all = started.lock().clone();
    assert!(all.len() > running.len(), "restarts happened");
    for handle in &all {
        if !running.contains(&handle.pid()) {
            let exit = crate::exit_of(handle);
            assert!(
                !matches!(
                    exit.reason,
                    ExitReason::HostError { .. } | ExitReason::Normal { .. }
                ),
                "{}: {}",
                exit.pid,
                exit.reason
            );
        }
    }

    rt.exit(top.pid(), SignalReason::Reason(ExitReason::Shutdown))
        .unwrap();
    assert_eq!(top.wait().reason, ExitReason::Shutdown);
    for handle in &all {
        handle.wait();
    }
    settle_to(&rt, |held| Held {
        timer_entries: held.timer_entries,
        ..Held::default()
    });
    rt.shutdown(Duration::from_secs(1));
    let stats = rt.stats();
    assert_eq!(stats.live, 0, "every process ended with the tree");
    assert_eq!(stats.memory_used, 0, "every charge given back");
    assert_eq!(rt.registered(), 0);
}

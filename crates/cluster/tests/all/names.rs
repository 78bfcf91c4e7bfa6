//! Cluster-wide names in the server's key-value bucket: seen from every node, taken
//! once, released when the holder ends or its node goes down, and unavailable (with
//! the reason) where the server offers no JetStream.

use std::time::Duration;

use shoal_cluster::{Credentials, Node};
use shoal_scheduler::{ExitReason, GlobalNameError, Pid, SpawnOptions};

use crate::{HANG, config, node, server};

/// Polls `whereis_global(name)` on `node` until it answers `expected`.
async fn until_whereis(node: &Node, name: &str, expected: Option<Pid>) {
    let start = std::time::Instant::now();
    loop {
        let found = node.whereis_global(name).await.unwrap();
        if found == expected {
            return;
        }
        assert!(
            start.elapsed() < HANG,
            "`{name}` is {found:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_is_seen_from_every_node_taken_once_and_released_when_its_holder_ends() {
    let nats = server(&[]);
    let a = node(config(&nats, "a")).await;
    let b = node(config(&nats, "b")).await;
    a.wait_for_nodes(1, HANG).await.unwrap();
    b.wait_for_nodes(1, HANG).await.unwrap();

    let holder = a
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.register_global("room", cx.pid()).await.unwrap();
            let m = cx.receive(None, Some(HANG)).await.unwrap();
            cx.send(m.from.unwrap(), 2, m.data).unwrap();
            0
        })
        .unwrap();
    let room = holder.pid();
    until_whereis(&b, "room", Some(room)).await;

    let client = b
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let me = cx.pid();
            assert_eq!(
                cx.register_global("room", me).await,
                Err(GlobalNameError::Taken {
                    name: "room".into(),
                    holder: room
                })
            );
            let found = cx.whereis_global("room").await.unwrap().unwrap();
            cx.send(found, 1, b"hello".to_vec()).unwrap();
            let reply = cx.receive(None, Some(HANG)).await.unwrap();
            assert_eq!((reply.from, &reply.data[..]), (Some(room), &b"hello"[..]));
            0
        })
        .unwrap();
    assert_eq!(client.join().await.reason, ExitReason::Normal { code: 0 });
    assert_eq!(holder.join().await.reason, ExitReason::Normal { code: 0 });

    // The holder ended: its node released the name, and another node's process takes it.
    until_whereis(&b, "room", None).await;
    let next = b
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.sleep(HANG).await;
            0
        })
        .unwrap();
    b.register_global("room", next.pid()).await.unwrap();
    until_whereis(&a, "room", Some(next.pid())).await;
    // A name with a dot is a name like any other; releasing answers who held it.
    b.register_global("chat.room", next.pid()).await.unwrap();
    assert_eq!(a.unregister_global("chat.room").await, Ok(Some(next.pid())));
    assert_eq!(a.whereis_global("chat.room").await, Ok(None));
    assert_eq!(a.unregister_global("chat.room").await, Ok(None));
    // The host is held to what a process is: a live process of its own node.
    assert_eq!(
        a.register_global("other", next.pid()).await,
        Err(GlobalNameError::NoProc(next.pid()))
    );
    assert_eq!(
        a.register_global("", room).await,
        Err(GlobalNameError::BadName(String::new()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_names_of_a_node_that_goes_down_are_released_from_the_bucket() {
    let nats = server(&[]);
    let a = node(config(&nats, "a")).await;
    let c = node(config(&nats, "c")).await;
    a.wait_for_nodes(1, HANG).await.unwrap();
    let far = c
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.sleep(HANG).await;
            0
        })
        .unwrap()
        .pid();
    c.register_global("ledger", far).await.unwrap();
    until_whereis(&a, "ledger", Some(far)).await;
    // Dropped without a goodbye: silent, then down to a, which releases its names.
    drop(c);
    let client = async_nats::connect(&nats.url).await.unwrap();
    let bucket = async_nats::jetstream::new(client)
        .get_key_value("shoal_names_test")
        .await
        .unwrap();
    let start = std::time::Instant::now();
    // Read raw, not through a node: the entry itself is deleted, not only read as stale.
    while bucket.get("ledger").await.unwrap().is_some() {
        assert!(
            start.elapsed() < HANG,
            "the entry of a dead node's name stays"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jetstream_for_its_account_a_node_runs_and_its_names_are_unavailable() {
    // The system-account configuration gives the application's account no JetStream.
    let nats = crate::server_with_system_account();
    let mut c = config(&nats, "a");
    c.credentials = Credentials::UserPassword {
        user: "app".into(),
        password: "app".into(),
    };
    let a = node(c).await;
    let p = a
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            let answer = cx.register_global("room", cx.pid()).await;
            i32::from(matches!(answer, Err(GlobalNameError::Unavailable(_))))
        })
        .unwrap();
    assert_eq!(p.join().await.reason, ExitReason::Normal { code: 1 });
    assert!(matches!(
        a.whereis_global("room").await,
        Err(GlobalNameError::Unavailable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_young_node_leaves_a_holder_it_has_not_heard_of_alone_and_an_older_one_clears_it() {
    let nats = server(&[]);
    // A node makes the bucket; then an entry appears for node 999, which nobody runs.
    let mut slow = config(&nats, "a");
    slow.down_after = Duration::from_secs(2);
    let a = node(slow).await;
    let ghost = Pid::on(shoal_scheduler::NodeId::new(999).unwrap(), 1, 1);
    let mut entry = ghost.to_bits().to_le_bytes().to_vec();
    entry.extend_from_slice(&7u64.to_le_bytes());
    let client = async_nats::connect(&nats.url).await.unwrap();
    let bucket = async_nats::jetstream::new(client)
        .get_key_value("shoal_names_test")
        .await
        .unwrap();
    bucket.put("ghost", entry.into()).await.unwrap();
    // Younger than its 2 s liveness window, `a` may not have heard node 999 yet: the
    // holder counts as live, and is neither deleted nor overwritten.
    let started = std::time::Instant::now();
    assert_eq!(a.whereis_global("ghost").await, Ok(Some(ghost)));
    let me = a
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.sleep(HANG).await;
            0
        })
        .unwrap()
        .pid();
    assert!(matches!(
        a.register_global("ghost", me).await,
        Err(GlobalNameError::Taken { holder, .. }) if holder == ghost
    ));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the checks ran while young"
    );
    // Past the window, a node that is not up is down: the entry is stale, and goes.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(a.whereis_global("ghost").await, Ok(None));
    assert_eq!(bucket.get("ghost").await.unwrap(), None);
    a.register_global("ghost", me).await.unwrap();
}

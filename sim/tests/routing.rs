//! Inbox routing (`Inbox::split`, `InboxRoute::replace`) and the re-armable `Alarm`.

mod common;
use common::*;
use kzsim_sim::net::NetEvent;
use kzsim_sim::time::Alarm;
use kzsim_sim::{run_seed, NodeSpec, RunConfig, SimTime};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

fn got_from(ev: NetEvent<u64>, tag: &str) -> Option<Ev> {
    match ev {
        NetEvent::Message { from, packet, .. } => Some(Ev::Got {
            from: format!("{tag}:{from}"),
            n: packet.msg,
        }),
        _ => None,
    }
}

#[test]
fn split_routes_by_peer_and_replace_rehomes() {
    let out = run_seed::<Ev, u64, (), _, _>(4, RunConfig::default(), |w: W| async move {
        // "hub" splits: events from "z" go to the routed inbox, the rest stay.
        w.add_node(NodeSpec::new("hub"), |ctx: Ctx| async move {
            let peers: BTreeSet<Arc<str>> = [Arc::from("z")].into_iter().collect();
            let (mut rest, mut routed, route) = ctx.inbox.split(peers);
            let (t1, n1) = (ctx.trace.clone(), ctx.name.clone());
            madsim::task::spawn_local(async move {
                while let Some(ev) = rest.recv().await {
                    if let Some(e) = got_from(ev, "rest") {
                        t1.record(&n1, e);
                    }
                }
            });
            // The first routed inbox takes 5 messages, then a fresh one takes over.
            let mut n = 0;
            while n < 5 {
                let ev = routed.recv().await.expect("z is sending");
                if let Some(e) = got_from(ev, "routed") {
                    ctx.trace.record(&ctx.name, e);
                    n += 1;
                }
            }
            let mut fresh = route.replace();
            // The replaced inbox keeps what it had, then closes.
            while routed.recv().await.is_some() {}
            while let Some(ev) = fresh.recv().await {
                if let Some(e) = got_from(ev, "fresh") {
                    ctx.trace.record(&ctx.name, e);
                }
            }
        });
        w.add_node(
            NodeSpec::new("z"),
            sender("hub", 10, Duration::from_millis(10)),
        );
        w.add_node(
            NodeSpec::new("k"),
            sender("hub", 3, Duration::from_millis(10)),
        );
        w.sleep(Duration::from_secs(1)).await;
    });
    out.result.as_ref().unwrap();
    let froms: Vec<(String, u64)> = out
        .trace
        .iter()
        .filter_map(|r| match &r.event {
            Ev::Got { from, n } => Some((from.clone(), *n)),
            _ => None,
        })
        .collect();
    let of = |tag: &str| -> Vec<u64> {
        froms
            .iter()
            .filter(|(f, _)| f == tag)
            .map(|(_, n)| *n)
            .collect()
    };
    assert_eq!(of("rest:k"), vec![0, 1, 2]);
    assert!(of("rest:z").is_empty());
    let routed = of("routed:z");
    let fresh = of("fresh:z");
    assert_eq!(routed, vec![0, 1, 2, 3, 4]);
    // Messages that arrived between the 5th and the replacement went to the old inbox.
    assert!(!fresh.is_empty(), "{froms:?}");
    assert!(fresh.windows(2).all(|w| w[0] < w[1]), "in order: {fresh:?}");
    assert_eq!(*fresh.last().expect("non-empty"), 9);
}

#[test]
fn alarm_fires_at_its_deadline_and_rearms() {
    let out = run_seed::<Ev, u64, (), _, _>(1, RunConfig::default(), |_w: W| async move {
        let mut alarm = Alarm::new();
        let start = SimTime::now();
        let due = start.plus(Duration::from_millis(30));
        // Another task wakes this one every 4 ms, so the alarm is re-polled while armed,
        // as it is in a host's select loop.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        madsim::task::spawn(async move {
            loop {
                madsim::time::sleep(Duration::from_millis(4)).await;
                if tx.send(()).is_err() {
                    return;
                }
            }
        });
        let mut woken = 0;
        loop {
            futures::select_biased! {
                _ = futures::FutureExt::fuse(rx.recv()) => woken += 1,
                _ = futures::FutureExt::fuse(alarm.wait_until(due)) => break,
            }
        }
        let t = SimTime::now();
        assert!(woken >= 5, "{woken}");
        assert!(t >= due && t.since(due) < Duration::from_millis(1), "{t}");
        // A deadline in the past completes at once; a later one waits exactly.
        alarm.wait_until(start).await;
        assert!(SimTime::now().since(t) < Duration::from_micros(1));
        let later = t.plus(Duration::from_millis(5));
        alarm.wait_until(later).await;
        let t2 = SimTime::now();
        assert!(
            t2 >= later && t2.since(later) < Duration::from_millis(1),
            "{t2}"
        );
    });
    out.result.as_ref().unwrap();
}

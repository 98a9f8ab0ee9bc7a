//! Small test actors for the sim crate's tests: a sender that streams numbered messages
//! and a receiver that records what arrives.

#![allow(dead_code)]

use kzsim_sim::net::{CloseReason, NetEvent};
use kzsim_sim::{NodeCtx, NodeSpec, RunConfig, RunOutput, SimEvent, World};
use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Ev {
    Sim(SimEvent),
    Got { from: String, n: u64 },
    Accepted { from: String },
    Closed { peer: String, reason: String },
    Tick { n: u64, local_ms: u64 },
    Recovered { bytes: usize },
}

impl From<SimEvent> for Ev {
    fn from(e: SimEvent) -> Self {
        Ev::Sim(e)
    }
}

pub type W = World<Ev, u64>;
pub type Ctx = NodeCtx<Ev, u64>;

fn reason(r: CloseReason) -> String {
    format!("{r:?}")
}

/// Records everything that arrives.
pub async fn receiver(mut ctx: Ctx) {
    ctx.trace.record(
        &ctx.name,
        Ev::Recovered {
            bytes: ctx.disk.len("data").unwrap_or(0),
        },
    );
    while let Some(ev) = ctx.inbox.recv().await {
        let e = match ev {
            NetEvent::Accepted { from, .. } => Ev::Accepted {
                from: from.to_string(),
            },
            NetEvent::Message { from, packet, .. } => {
                ctx.disk.append("data", &packet.msg.to_le_bytes());
                Ev::Got {
                    from: from.to_string(),
                    n: packet.msg,
                }
            }
            NetEvent::Closed {
                peer, reason: r, ..
            } => Ev::Closed {
                peer: peer.to_string(),
                reason: reason(r),
            },
        };
        ctx.trace.record(&ctx.name, e);
    }
}

/// Connects to `to` and sends 0..count, one every `every`; records closes.
pub fn sender(
    to: &'static str,
    count: u64,
    every: Duration,
) -> impl Fn(Ctx) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send + Sync + 'static
{
    move |mut ctx: Ctx| {
        Box::pin(async move {
            let conn = ctx.endpoint.connect(to);
            for n in 0..count {
                if ctx.endpoint.send(conn, n).is_err() {
                    break;
                }
                if !every.is_zero() {
                    madsim::time::sleep(every).await;
                }
            }
            while let Some(ev) = ctx.inbox.recv().await {
                if let NetEvent::Closed {
                    peer, reason: r, ..
                } = ev
                {
                    ctx.trace.record(
                        &ctx.name,
                        Ev::Closed {
                            peer: peer.to_string(),
                            reason: reason(r),
                        },
                    );
                }
            }
        })
    }
}

/// Counts ticks of local time.
pub async fn ticker(ctx: Ctx) {
    let mut n = 0;
    loop {
        madsim::time::sleep(Duration::from_millis(100)).await;
        n += 1;
        let local_ms = ctx.clock.local_now() / 1_000_000;
        ctx.trace.record(&ctx.name, Ev::Tick { n, local_ms });
    }
}

pub fn got(out: &RunOutput<Ev, ()>, node: &str) -> Vec<u64> {
    out.trace
        .iter()
        .filter(|r| &*r.node == node)
        .filter_map(|r| {
            if let Ev::Got { n, .. } = r.event {
                Some(n)
            } else {
                None
            }
        })
        .collect()
}

pub fn closes(out: &RunOutput<Ev, ()>, node: &str) -> Vec<String> {
    out.trace
        .iter()
        .filter(|r| &*r.node == node)
        .filter_map(|r| {
            if let Ev::Closed { reason, .. } = &r.event {
                Some(reason.clone())
            } else {
                None
            }
        })
        .collect()
}

pub fn two_nodes(
    seed: u64,
    config: RunConfig,
    count: u64,
    every: Duration,
    script: impl FnOnce(W) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send + 'static,
) -> RunOutput<Ev, ()> {
    kzsim_sim::run_seed(seed, config, move |w: W| async move {
        w.add_node(NodeSpec::new("b"), receiver);
        w.add_node(NodeSpec::new("a"), sender("b", count, every));
        script(w).await;
    })
}

/// A standard short run used by the determinism tests: traffic, a crash and restart,
/// a partition and heal, with loss.
pub fn standard_run(seed: u64) -> RunOutput<Ev, ()> {
    let config = RunConfig {
        net: kzsim_sim::NetConfig {
            loss_permille: 100,
            ..Default::default()
        },
        ..Default::default()
    };
    two_nodes(seed, config, 200, Duration::from_millis(5), |w| {
        Box::pin(async move {
            w.add_node(NodeSpec::new("t"), ticker);
            w.sleep(Duration::from_millis(300)).await;
            w.partition(&[vec!["a".into()], vec!["b".into(), "t".into()]]);
            w.sleep(Duration::from_millis(300)).await;
            w.heal();
            w.sleep(Duration::from_millis(200)).await;
            w.restart("b");
            w.sleep(Duration::from_millis(500)).await;
        })
    })
}

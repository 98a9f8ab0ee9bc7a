//! The checker benchmark (`kzsim bench checker`) and the generator of linearizable register
//! histories it runs on (also used by the property tests).

use super::linear::{self, LinearOptions, Model};
use crate::history::SimTime;
use crate::history::{Call, History, Op, Outcome, Ret};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Instant;

/// Shape of a generated history.
#[derive(Clone, Debug)]
pub struct GenParams {
    /// Operations to generate (invocations).
    pub ops: usize,
    /// Concurrent client slots (a crashed client's slot continues with a new process id).
    pub clients: usize,
    /// Keys, named `k0`, `k1`, ...
    pub keys: usize,
    /// Probability that an op ends `info` (it takes effect or not, 50/50, and never returns).
    pub info_ratio: f64,
    /// Whether to generate CAS ops (a third of them), else only reads and writes.
    pub cas: bool,
}

enum Phase {
    Idle,
    /// Invoked, not yet taken effect: (op index, crashes).
    Invoked(usize, bool),
    /// Took effect, not yet returned.
    Applied(usize),
}

/// Generates a history by running a sequential register per key under random concurrency:
/// each op is invoked, takes effect at a later step (where the sequential model computes its
/// result), and returns later still. So the history is linearizable by construction.
///
/// Guarantees: deterministic for a seed; written values are unique per history; a CAS whose
/// comparison fails ends `fail`; `info` ops never return, and their process is never reused.
pub fn generate(seed: u64, p: &GenParams) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut state: BTreeMap<usize, Option<i64>> = BTreeMap::new();
    let mut ops: Vec<Op> = Vec::new();
    let mut slots: Vec<(u64, Phase)> = (0..p.clients).map(|c| (c as u64, Phase::Idle)).collect();
    let mut next_process = p.clients as u64;
    let mut next_value = 1i64;
    let mut t = 0u64;
    let mut key_of: Vec<usize> = Vec::new();
    loop {
        let busy = slots.iter().any(|(_, ph)| !matches!(ph, Phase::Idle));
        if ops.len() >= p.ops && !busy {
            break;
        }
        t += 1;
        let c = rng.random_range(0..p.clients);
        let (process, phase) = &mut slots[c];
        match phase {
            Phase::Idle => {
                if ops.len() >= p.ops {
                    continue;
                }
                let k = rng.random_range(0..p.keys.max(1));
                let key = format!("k{k}");
                let call = match rng.random_range(0..if p.cas { 3 } else { 2 }) {
                    0 => Call::Read { key },
                    1 => {
                        next_value += 1;
                        Call::Write {
                            key,
                            value: next_value,
                        }
                    }
                    _ => {
                        let cur = state.get(&k).copied().flatten();
                        let from = match cur {
                            Some(v) if rng.random_bool(0.5) => v,
                            _ => rng.random_range(0..next_value.max(1)),
                        };
                        next_value += 1;
                        Call::Cas {
                            key,
                            from,
                            to: next_value,
                        }
                    }
                };
                let crashes = rng.random_bool(p.info_ratio);
                ops.push(Op {
                    process: *process,
                    session: None,
                    node: None,
                    call,
                    invoke: SimTime(t),
                    complete: None,
                    outcome: Outcome::Info,
                    ret: Ret::None,
                    zxid: None,
                });
                key_of.push(k);
                *phase = Phase::Invoked(ops.len() - 1, crashes);
            }
            Phase::Invoked(i, crashes) => {
                let i = *i;
                let crashes = *crashes;
                let k = key_of[i];
                let cur = state.get(&k).copied().flatten();
                let happens = !crashes || rng.random_bool(0.5);
                let op = &mut ops[i];
                if happens {
                    match &op.call {
                        Call::Read { .. } => op.ret = Ret::Value { value: cur },
                        Call::Write { value, .. } => {
                            state.insert(k, Some(*value));
                        }
                        Call::Cas { from, to, .. } => {
                            if cur == Some(*from) {
                                state.insert(k, Some(*to));
                                op.outcome = Outcome::Ok;
                            } else {
                                op.outcome = Outcome::Fail;
                            }
                        }
                        _ => unreachable!("generator makes only register ops"),
                    }
                }
                if crashes {
                    // The client crashed: the op never returns and a new process takes the slot.
                    ops[i].outcome = Outcome::Info;
                    ops[i].ret = Ret::None;
                    *process = next_process;
                    next_process += 1;
                    *phase = Phase::Idle;
                } else {
                    if ops[i].outcome == Outcome::Info {
                        ops[i].outcome = Outcome::Ok;
                    }
                    *phase = Phase::Applied(i);
                }
            }
            Phase::Applied(i) => {
                ops[*i].complete = Some(SimTime(t));
                *phase = Phase::Idle;
            }
        }
    }
    History {
        ops,
        ..History::new()
    }
}

fn run_one(name: &str, history: &History, model: Model) -> String {
    let opts = LinearOptions::new(model);
    let start = Instant::now();
    let result = linear::check(history, &opts);
    let secs = start.elapsed().as_secs_f64();
    let n = history.ops.len();
    match result {
        Ok(r) => format!(
            "{name}: {n} ops, {} keys, verdict {:?} in {secs:.3} s ({:.0} ops/s, {} search steps)",
            r.stats.partitions,
            match &r.verdict {
                super::Verdict::Violated(v) => format!("violated ({})", v.len()),
                super::Verdict::Unknown { reason } => format!("unknown ({reason})"),
                v => v.name().to_string(),
            },
            n as f64 / secs.max(1e-9),
            r.stats.steps
        ),
        Err(e) => format!("{name}: generated history rejected: {e}"),
    }
}

/// Runs the checker on two generated histories and reports ops/s: 10,000 ops on one CAS
/// register with 10 clients and 5% `info` ops; 100,000 ops over 100 keys (10 clients,
/// 5% `info`). Both histories are linearizable, so the verdict must be `ok`.
pub fn bench_checker() -> String {
    let one = generate(
        1,
        &GenParams {
            ops: 10_000,
            clients: 10,
            keys: 1,
            info_ratio: 0.05,
            cas: true,
        },
    );
    let many = generate(
        2,
        &GenParams {
            ops: 100_000,
            clients: 10,
            keys: 100,
            info_ratio: 0.05,
            cas: true,
        },
    );
    let mut out = String::new();
    out.push_str(&run_one(
        "cas-register, 1 key, 10 clients, 5% info",
        &one,
        Model::CasRegister,
    ));
    out.push('\n');
    out.push_str(&run_one(
        "kv, 100 keys, 10 clients, 5% info",
        &many,
        Model::Kv,
    ));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_histories_validate_and_check_ok() {
        for seed in 0..20 {
            let h = generate(
                seed,
                &GenParams {
                    ops: 200,
                    clients: 5,
                    keys: 2,
                    info_ratio: 0.1,
                    cas: true,
                },
            );
            assert_eq!(
                crate::history::validate::validate(&h),
                vec![],
                "seed {seed}"
            );
            let r = linear::check(&h, &LinearOptions::new(Model::CasRegister)).expect("valid");
            assert_eq!(r.verdict, super::super::Verdict::Ok, "seed {seed}: {r}");
        }
    }

    /// Not a timed test: prints the benchmark figures. Run with
    /// `cargo test --release --lib check::bench -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn print_bench_checker() {
        println!("{}", bench_checker());
    }
}

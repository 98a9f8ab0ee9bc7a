//! Linearizability checker: table tests of known histories, and property tests against a
//! brute-force oracle.

use kzsim::check::bench::{generate, GenParams};
use kzsim::check::linear::{check, LinearOptions, Model, NilRead};
use kzsim::check::Verdict;
use kzsim::history::edn::parse_edn_history;
use kzsim::history::{AppendValue, Call, History, Op, Outcome, Ret};
use kzsim::sim::SimTime;
use proptest::prelude::*;

fn op(p: u64, call: Call, a: u64, b: Option<u64>, outcome: Outcome, ret: Ret) -> Op {
    Op {
        process: p,
        session: None,
        node: None,
        call,
        invoke: SimTime(a),
        complete: b.map(SimTime),
        outcome,
        ret,
        zxid: None,
    }
}
fn w(p: u64, v: i64, a: u64, b: u64) -> Op {
    op(
        p,
        Call::Write {
            key: "x".into(),
            value: v,
        },
        a,
        Some(b),
        Outcome::Ok,
        Ret::None,
    )
}
fn w_info(p: u64, v: i64, a: u64) -> Op {
    op(
        p,
        Call::Write {
            key: "x".into(),
            value: v,
        },
        a,
        None,
        Outcome::Info,
        Ret::None,
    )
}
fn r(p: u64, v: Option<i64>, a: u64, b: u64) -> Op {
    op(
        p,
        Call::Read { key: "x".into() },
        a,
        Some(b),
        Outcome::Ok,
        Ret::Value { value: v },
    )
}
fn cas(p: u64, from: i64, to: i64, a: u64, b: u64) -> Op {
    op(
        p,
        Call::Cas {
            key: "x".into(),
            from,
            to,
        },
        a,
        Some(b),
        Outcome::Ok,
        Ret::None,
    )
}
fn hist(mut ops: Vec<Op>) -> History {
    ops.sort_by_key(|o| o.invoke);
    History {
        ops,
        ..History::new()
    }
}

struct Case {
    name: &'static str,
    ops: Vec<Op>,
    initial: Option<i64>,
    nil_read: NilRead,
    linearizable: bool,
}

fn case(name: &'static str, ops: Vec<Op>, linearizable: bool) -> Case {
    Case {
        name,
        ops,
        initial: None,
        nil_read: NilRead::Value,
        linearizable,
    }
}

#[test]
fn known_histories() {
    let cases = vec![
        case(
            "write then read",
            vec![w(1, 1, 0, 1), r(2, Some(1), 2, 3)],
            true,
        ),
        case(
            "stale read after a completed overwrite",
            vec![w(1, 1, 0, 1), w(1, 2, 2, 3), r(2, Some(1), 4, 5)],
            false,
        ),
        case(
            "lost write: acknowledged, then read as nil",
            vec![w(1, 1, 0, 1), r(2, None, 2, 3)],
            false,
        ),
        case(
            "read overlapping a write sees the new value early",
            vec![w(1, 1, 0, 10), r(2, Some(1), 2, 3)],
            true,
        ),
        case(
            "two readers disagree on order",
            vec![w(1, 1, 0, 10), r(2, Some(1), 1, 2), r(3, None, 3, 4)],
            false,
        ),
        Case {
            initial: Some(0),
            ..case(
                "CAS that happened twice",
                vec![cas(1, 0, 1, 0, 1), cas(2, 0, 1, 2, 3)],
                false,
            )
        },
        Case {
            initial: Some(0),
            ..case(
                "concurrent CASes: only one may win",
                vec![cas(1, 0, 1, 0, 5), cas(2, 0, 2, 0, 5)],
                false,
            )
        },
        Case {
            initial: Some(0),
            ..case(
                "CAS chain",
                vec![cas(1, 0, 1, 0, 1), cas(2, 1, 2, 2, 3), r(3, Some(2), 4, 5)],
                true,
            )
        },
        case(
            "CAS from nil initial fails",
            vec![cas(1, 0, 1, 0, 1)],
            false,
        ),
        case(
            "info write that later became visible",
            vec![w_info(1, 7, 0), r(2, Some(7), 5, 6)],
            true,
        ),
        case(
            "info write seen, then unseen",
            vec![w_info(1, 7, 0), r(2, Some(7), 5, 6), r(2, None, 7, 8)],
            false,
        ),
        case(
            "info write never seen",
            vec![w(2, 1, 0, 1), w_info(1, 7, 2), r(2, Some(1), 5, 6)],
            true,
        ),
        case(
            "read a value nobody wrote",
            vec![w(1, 1, 0, 1), r(2, Some(5), 2, 3)],
            false,
        ),
        Case {
            nil_read: NilRead::Any,
            ..case(
                "nil read in any state (Knossos rule)",
                vec![w(1, 1, 0, 1), r(2, None, 2, 3)],
                true,
            )
        },
    ];
    for c in cases {
        let mut o = LinearOptions::new(Model::CasRegister);
        o.initial = c.initial;
        o.nil_read = c.nil_read;
        let rep = check(&hist(c.ops), &o).expect("valid history");
        assert_eq!(rep.verdict.is_ok(), c.linearizable, "{}: {rep}", c.name);
        assert_eq!(
            rep.verdict.is_violated(),
            !c.linearizable,
            "{}: {rep}",
            c.name
        );
    }
}

#[test]
fn violation_names_window_and_state_before() {
    let rep = check(
        &hist(vec![w(1, 1, 0, 1), w(1, 2, 2, 3), r(2, Some(1), 4, 5)]),
        &LinearOptions::new(Model::CasRegister),
    )
    .expect("valid");
    let v = &rep.verdict.violations()[0];
    assert_eq!(v.ops, vec![2]);
    assert_eq!(v.state_before.as_deref(), Some("2"));
    assert!(v.message.contains("ops[2] read -> 1"), "{}", v.message);
}

#[test]
fn keys_are_checked_separately() {
    let y = |o: Op| Op {
        call: match o.call {
            Call::Read { .. } => Call::Read { key: "y".into() },
            Call::Write { value, .. } => Call::Write {
                key: "y".into(),
                value,
            },
            c => c,
        },
        ..o
    };
    let h = hist(vec![
        w(1, 1, 0, 1),
        y(w(2, 5, 0, 1)),
        r(1, Some(1), 2, 3),
        y(r(2, Some(4), 2, 3)),
    ]);
    let rep = check(&h, &LinearOptions::new(Model::Kv)).expect("valid");
    assert_eq!(rep.stats.partitions, 2);
    let vs = rep.verdict.violations();
    assert_eq!(vs.len(), 1, "{rep}");
    assert!(vs[0].message.contains("key \"y\""), "{}", vs[0].message);
}

#[test]
fn append_lists() {
    let app = |p, v, a, b| {
        op(
            p,
            Call::Append {
                key: "l".into(),
                value: AppendValue::Int(v),
            },
            a,
            Some(b),
            Outcome::Ok,
            Ret::None,
        )
    };
    let read = |p, vs: Vec<i64>, a, b| {
        op(
            p,
            Call::Read { key: "l".into() },
            a,
            Some(b),
            Outcome::Ok,
            Ret::List { values: vs },
        )
    };
    let ok = hist(vec![
        app(1, 1, 0, 1),
        app(2, 2, 2, 3),
        read(3, vec![1, 2], 4, 5),
    ]);
    assert!(check(&ok, &LinearOptions::new(Model::Kv))
        .expect("valid")
        .verdict
        .is_ok());
    let bad = hist(vec![
        app(1, 1, 0, 1),
        app(2, 2, 2, 3),
        read(3, vec![2, 1], 4, 5),
    ]);
    assert!(check(&bad, &LinearOptions::new(Model::Kv))
        .expect("valid")
        .verdict
        .is_violated());
}

#[test]
fn jepsen_edn_history_with_nemesis_and_crashed_process() {
    // Knossos-style: initial 0; process 0 crashes mid-write (:info), process 3 replaces it.
    let text = r#"[{:process 0 :type :invoke :f :write :value 3}
{:process :nemesis :type :info :f :start :value nil}
{:process 1 :type :invoke :f :read :value nil}
{:process 0 :type :info :f :write :value 3}
{:process 1 :type :ok :f :read :value 3}
{:process 3 :type :invoke :f :cas :value [3 4]}
{:process 3 :type :ok :f :cas :value [3 4]}
{:process 1 :type :invoke :f :read :value nil}
{:process 1 :type :ok :f :read :value 4}]"#;
    let h = parse_edn_history(text).expect("parses");
    let mut o = LinearOptions::new(Model::CasRegister);
    o.initial = Some(0);
    assert!(check(&h, &o).expect("valid").verdict.is_ok());
    let bad = text.replace(":ok :f :read :value 4", ":ok :f :read :value 3");
    let h = parse_edn_history(&bad).expect("parses");
    assert!(check(&h, &o).expect("valid").verdict.is_violated());
}

/// Brute force: try every order that respects real time; `info` ops may be left out.
fn oracle(ops: &[Op], initial: Option<i64>) -> bool {
    let ops: Vec<&Op> = ops
        .iter()
        .filter(|o| {
            o.outcome == Outcome::Ok
                || (o.outcome == Outcome::Info && !matches!(o.call, Call::Read { .. }))
        })
        .collect();
    fn go(ops: &[&Op], done: &mut Vec<bool>, state: Option<i64>) -> bool {
        let pending_ok: Vec<usize> = (0..ops.len())
            .filter(|&i| !done[i] && ops[i].outcome == Outcome::Ok)
            .collect();
        if pending_ok.is_empty() {
            return true;
        }
        for c in 0..ops.len() {
            if done[c] {
                continue;
            }
            // c may go next only if no pending ok op returned before c was invoked.
            if pending_ok
                .iter()
                .any(|&o| o != c && ops[o].complete.expect("ok") < ops[c].invoke)
            {
                continue;
            }
            let info = ops[c].outcome == Outcome::Info;
            let next = match (&ops[c].call, &ops[c].ret) {
                (Call::Read { .. }, Ret::Value { value }) => (*value == state).then_some(state),
                (Call::Write { value, .. }, _) => Some(Some(*value)),
                (Call::Cas { from, to, .. }, _) => {
                    if state == Some(*from) {
                        Some(Some(*to))
                    } else if info {
                        Some(state)
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(s) = next {
                done[c] = true;
                let ok = go(ops, done, s);
                done[c] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    let mut done = vec![false; ops.len()];
    go(&ops, &mut done, initial)
}

fn small(seed: u64, n: usize) -> History {
    generate(
        seed,
        &GenParams {
            ops: n,
            clients: 3,
            keys: 1,
            info_ratio: 0.2,
            cas: true,
        },
    )
}

/// Replaces the value of the `pick`-th ok read with `candidates[choice]`.
fn corrupt(h: &History, pick: usize, choice: usize) -> Option<History> {
    let reads: Vec<usize> = h
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.outcome == Outcome::Ok && matches!(o.call, Call::Read { .. }))
        .map(|(i, _)| i)
        .collect();
    if reads.is_empty() {
        return None;
    }
    let i = reads[pick % reads.len()];
    let mut candidates: Vec<Option<i64>> = vec![None, Some(9999)];
    for o in &h.ops {
        match o.call {
            Call::Write { value, .. } => candidates.push(Some(value)),
            Call::Cas { to, .. } => candidates.push(Some(to)),
            _ => {}
        }
    }
    let new = candidates[choice % candidates.len()];
    let mut h = h.clone();
    if h.ops[i].ret == (Ret::Value { value: new }) {
        return None;
    }
    h.ops[i].ret = Ret::Value { value: new };
    Some(h)
}

#[test]
fn oracle_agrees_with_table_and_corruptions_are_caught() {
    let mut rejected = 0;
    let mut accepted = 0;
    for seed in 0..300 {
        let h = small(seed, 7);
        assert!(
            oracle(&h.ops, None),
            "seed {seed}: generated history must pass the oracle"
        );
        if let Some(bad) = corrupt(&h, seed as usize, (seed / 3) as usize) {
            let expect = oracle(&bad.ops, None);
            let got = check(&bad, &LinearOptions::new(Model::CasRegister))
                .expect("valid")
                .verdict;
            assert_eq!(
                got.is_ok(),
                expect,
                "seed {seed}: checker {got:?} vs oracle {expect}"
            );
            if expect {
                accepted += 1;
            } else {
                rejected += 1;
            }
        }
    }
    // Most corruptions are detectable; some are honestly indistinguishable.
    assert!(rejected > 100, "rejected {rejected}, accepted {accepted}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn generated_histories_are_accepted(seed in any::<u64>(), n in 1usize..40, clients in 1usize..6, keys in 1usize..3) {
        let h = generate(seed, &GenParams { ops: n, clients, keys, info_ratio: 0.1, cas: true });
        let rep = check(&h, &LinearOptions::new(Model::CasRegister)).expect("valid");
        // A history with no ok op judged nothing: unknown, never ok.
        if h.ops.iter().any(|o| o.outcome == Outcome::Ok) {
            prop_assert_eq!(rep.verdict, Verdict::Ok);
        } else {
            prop_assert!(rep.is_unknown(), "{}", rep);
        }
    }

    #[test]
    fn corrupted_read_is_rejected_unless_oracle_accepts(seed in any::<u64>(), n in 2usize..9, pick in any::<usize>(), choice in any::<usize>()) {
        let h = small(seed, n);
        if let Some(bad) = corrupt(&h, pick, choice) {
            let expect = oracle(&bad.ops, None);
            let got = check(&bad, &LinearOptions::new(Model::CasRegister)).expect("valid").verdict;
            prop_assert_eq!(got.is_ok(), expect, "checker {:?} vs oracle {}", got, expect);
            prop_assert_eq!(got.is_violated(), !expect);
        }
    }
}

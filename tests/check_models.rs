//! `kzsim check` on the hand-made corpora in `tests/data/{kv,set,queue}`: Porcupine's
//! key-value histories and Jepsen's set and queue histories, in EDN and JSON, each with its
//! expected verdict reasoned out below; then bad input, which must be named, never panic.

use kzsim::check::cli::{run_to_string, CheckArgs, CliOutput, ModelArg};
use std::path::{Path, PathBuf};

fn args(file: PathBuf, model: Option<ModelArg>) -> CheckArgs {
    CheckArgs {
        model,
        ..CheckArgs::new(vec![file])
    }
}

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kzsim-check-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write temp file");
    p
}

/// Exit codes of `kzsim check`.
const OK: u8 = 0;
const VIOLATED: u8 = 1;
const UNKNOWN: u8 = 2;

/// (file under tests/data, model, expected exit code, why).
const CORPUS: &[(&str, ModelArg, u8, &str)] = &[
    // --- Porcupine's kv model: get returns the string, put sets it, append concatenates,
    // initial "". Each key is checked alone.
    (
        "kv/c03-ok.edn",
        ModelArg::Kv,
        OK,
        "x: put \"a\" and append \"b\" overlap; the later get reads \"ab\", which is put \
         then append. y: never written, so the get reads the initial \"\"; after append \
         \"z\" completes, a get reads \"z\" = \"\" + \"z\".",
    ),
    (
        "kv/c03-bad.edn",
        ModelArg::Kv,
        VIOLATED,
        "x: put \"a\", then append \"b\", then get, all sequential: the only legal read is \
         \"ab\"; it read \"ba\" (what appending at the front would give).",
    ),
    (
        "kv/info-ok.edn",
        ModelArg::Kv,
        OK,
        "put \"a\"; append \"b\" ends :info (crashed); a get reads \"a\" (the append has not \
         taken effect yet); append \"c\" is never completed; the last get reads \"abc\": both \
         indefinite appends took effect, in invocation order, after the first get. A \
         :nemesis entry is skipped.",
    ),
    (
        "kv/info-bad.edn",
        ModelArg::Kv,
        VIOLATED,
        "the :info append \"b\" is seen by a get (\"ab\"), then a later get reads \"a\": \
         an append cannot be undone and nothing else writes the key.",
    ),
    (
        "kv/c03-ok.json",
        ModelArg::Kv,
        OK,
        "JSON form of c03-ok, with the append to y an info op whose effect a later get \
         shows (\"z\").",
    ),
    (
        "kv/c03-bad.json",
        ModelArg::Kv,
        VIOLATED,
        "JSON form of c03-bad: sequential put \"a\", append \"b\", get \"ba\".",
    ),
    // --- Knossos's set: add inserts; a read returns the whole set (order ignored).
    (
        "set/ok.edn",
        ModelArg::Set,
        OK,
        "add 1; a read during add 2 sees #{1} (add 2 not yet in effect); after it, #{2 1}, \
         which is #{1 2}; adding 1 again changes nothing.",
    ),
    (
        "set/bad.edn",
        ModelArg::Set,
        VIOLATED,
        "adds of 1 and 2 both completed before a read that returns #{1}: 2 was lost.",
    ),
    (
        "set/info-ok.edn",
        ModelArg::Set,
        OK,
        "add 3 ends :info; a read sees #{1}, a later one #{1 3}: the indefinite add took \
         effect between them. A :fail add of 4 did not happen and is never seen.",
    ),
    (
        "set/info-bad.edn",
        ModelArg::Set,
        VIOLATED,
        "the :info add 3 is seen (#{1 3}), then a later read returns #{1}: a set never \
         loses an element.",
    ),
    (
        "set/ok.json",
        ModelArg::Set,
        OK,
        "add 1, then a read of [1].",
    ),
    (
        "set/duplicate.json",
        ModelArg::Set,
        VIOLATED,
        "a read returns [1, 1]: a set holds each element once, so no state matches.",
    ),
    // --- Knossos's FIFO queue: enqueue at the back, dequeue from the front.
    (
        "queue/ok.edn",
        ModelArg::Queue,
        OK,
        "enqueue 1, 2, dequeue 1, 2 (FIFO); a :fail dequeue constrains nothing; enqueues of 3 \
         and 4 overlap, so 4 may be first: dequeue 4, then 3; a final ok dequeue of nil \
         finds the queue empty, as it is.",
    ),
    (
        "queue/bad.edn",
        ModelArg::Queue,
        VIOLATED,
        "enqueue 1 then enqueue 2, sequential; the first dequeue returns 2 (what a stack \
         would give).",
    ),
    (
        "queue/info-ok.edn",
        ModelArg::Queue,
        OK,
        "enqueue 1, 2; a dequeue ends :info and must have taken 1, since the next dequeue \
         returns 2; an enqueue of 5 never completes, yet the last dequeue returns 5: it took \
         effect.",
    ),
    (
        "queue/info-bad.edn",
        ModelArg::Queue,
        VIOLATED,
        "enqueue 1, 2; an :info dequeue; dequeues return 2 then 1. For 2 to come out first \
         the :info dequeue must have taken 1, so 1 cannot come out again; if it did not, 1 \
         was at the front and 2 could not be dequeued first.",
    ),
    (
        "queue/ok.json",
        ModelArg::Queue,
        OK,
        "enqueues of 7 and 8 overlap; dequeues return 8 then 7, the order 8 went in first.",
    ),
];

fn run(file: PathBuf, model: Option<ModelArg>) -> CliOutput {
    run_to_string(&args(file, model))
}

/// Every corpus file gets its reasoned verdict, with the model given and, as the model is
/// inferred from the ops, without it. A wrong step function (append at the front, a set
/// that does not keep elements, a LIFO queue, an info op that cannot take effect) turns at
/// least one ok into a violation or one violation into ok.
#[test]
fn corpus_verdicts() {
    for (file, model, code, why) in CORPUS {
        for m in [Some(*model), None] {
            let out = run(data(file), m);
            assert!(!out.input_error, "{file}: input error: {}", out.text);
            assert_eq!(
                out.code, *code,
                "{file} (model {m:?}): expected exit {code} because: {why}\n{}",
                out.text
            );
        }
        // The verdict comes from the model's own checker.
        let mut a = args(data(file), None);
        a.json = true;
        let out = run_to_string(&a);
        let doc: serde_json::Value = serde_json::from_str(&out.text).expect("json output");
        let want = format!(
            "linear.{}",
            match model {
                ModelArg::Kv => "kv",
                ModelArg::Set => "set",
                _ => "queue",
            }
        );
        assert_eq!(doc["reports"][0]["checker"], want, "{file}");
    }
}

/// Violations name the key, the op and the state before it in the model's own notation.
#[test]
fn violations_show_model_state() {
    let out = run(data("kv/c03-bad.edn"), Some(ModelArg::Kv));
    assert!(out.text.contains("get -> \"ba\""), "{}", out.text);
    assert!(out.text.contains("\"ab\""), "{}", out.text);
    let out = run(data("queue/bad.edn"), Some(ModelArg::Queue));
    assert!(out.text.contains("dequeue -> 2"), "{}", out.text);
    let out = run(data("set/bad.edn"), Some(ModelArg::Set));
    assert!(out.text.contains("#{1 2}"), "{}", out.text);
}

/// A history in which nothing could be judged (only failed and indefinite ops) is unknown,
/// never ok.
#[test]
fn nothing_to_judge_is_unknown() {
    for (name, text, model) in [
        (
            "q.edn",
            "{:process 0 :type :invoke :f :enqueue :value 1}\n\
             {:process 1 :type :invoke :f :dequeue :value nil}\n\
             {:process 1 :type :fail :f :dequeue :value nil}\n",
            ModelArg::Queue,
        ),
        (
            "kv.edn",
            "{:process 0 :type :invoke :f :get :key \"a\" :value nil}\n\
             {:process 0 :type :info :f :get :key \"a\" :value nil}\n",
            ModelArg::Kv,
        ),
        ("empty.edn", "", ModelArg::Set),
    ] {
        let out = run(write(name, text), Some(model));
        assert_eq!(
            (out.code, out.input_error),
            (UNKNOWN, false),
            "{name}: {}",
            out.text
        );
        assert!(
            out.text.contains("nothing to judge"),
            "{name}: {}",
            out.text
        );
    }
}

/// Bad input: each error names the line (EDN) or op index (JSON) and what is wrong.
#[test]
fn bad_input_is_named() {
    let cases: &[(&str, &str, Option<ModelArg>, &str)] = &[
        (
            "put-int.edn",
            "{:process 0, :type :invoke, :f :put, :key \"x\", :value 1}",
            None,
            "line 1: op #0: a :put needs a string :value, not Int(1)",
        ),
        (
            "drain.edn",
            "{:process 0 :type :invoke :f :enqueue :value 1}\n{:process 0 :type :invoke :f :drain :value nil}",
            None,
            "line 2: op #1: process 0 invokes while its op from line 1 is still open",
        ),
        (
            "drain2.edn",
            "\n\n{:process 3 :type :invoke :f :drain :value nil}",
            None,
            "line 3: op #0: :f :drain is not an operation kzsim reads (read, write, cas, get, put, append, add, enqueue, dequeue)",
        ),
        (
            "mixed.edn",
            "[{:process 0 :type :invoke :f :put :key \"x\" :value \"a\"}\n {:process 0 :type :ok :f :put :key \"x\" :value \"a\"}\n {:process 0 :type :invoke :f :write :key \"x\" :value 1}\n {:process 0 :type :ok :f :write :key \"x\" :value 1}]",
            Some(ModelArg::Kv),
            "line 3: ops[1].f: key \"x\" has string ops (get, put, append of a string) since ops[0], so `write` with integer ops (read, write, cas, append of an integer) cannot be checked",
        ),
        (
            "wrong-model.edn",
            "{:process 0 :type :invoke :f :enqueue :value 1}\n{:process 0 :type :ok :f :enqueue :value 1}",
            Some(ModelArg::Set),
            "line 1: ops[0].f: `enqueue` is not an operation of the set model (it accepts add, read)",
        ),
        (
            "set-read-int.edn",
            "{:process 0 :type :invoke :f :read :value nil}\n{:process 0 :type :ok :f :read :value 3}",
            Some(ModelArg::Set),
            "line 1: ops[0].ret: an ok set read must return `list` (the whole set)",
        ),
        (
            "independent.edn",
            "{:process 0 :type :invoke :f :read :value nil}\n{:process 0 :type :ok :f :read :value [:k nil]}",
            None,
            "line 2: op #1: :read :value: a collection must hold integers, not Keyword(\"k\")",
        ),
        (
            "get-number.edn",
            "{:process 0 :type :invoke :f :get :key 1 :value nil}\n{:process 0 :type :ok :f :get :key 1 :value 5}",
            None,
            "line 2: op #1: an ok :get must return a string or nil, not Int(5)",
        ),
        (
            "complete-mismatch.edn",
            "{:process 0 :type :invoke :f :add :value 1}\n{:process 0 :type :ok :f :enqueue :value 1}",
            None,
            "line 2: op #1: :ok :f :enqueue completes an invocation of :add",
        ),
        (
            "get-value.json",
            r#"{"format":1,"ops":[{"process":0,"f":"get","key":"x","invoke":0,"complete":1,"outcome":"ok","ret":{"type":"value","value":1}}]}"#,
            None,
            "ops[0].ret: Value { value: Some(1) } does not fit an ok get",
        ),
        (
            "put-int.json",
            r#"{"format":1,"ops":[{"process":0,"f":"put","key":"x","value":1,"invoke":0,"complete":1,"outcome":"ok"}]}"#,
            None,
            "ops[0].f: invalid type: integer `1`, expected a string",
        ),
        (
            "register-list.edn",
            "{:process 0 :type :invoke :f :read :value nil}\n{:process 0 :type :ok :f :read :value [1 2]}",
            Some(ModelArg::CasRegister),
            "line 1: ops[0].ret: an ok read of the cas-register model must return one `value`, not a list",
        ),
    ];
    for (name, text, model, want) in cases {
        let out = run(write(name, text), *model);
        assert_eq!(
            (out.code, out.input_error),
            (2, true),
            "{name}: {}",
            out.text
        );
        assert!(
            out.text.contains(want),
            "{name}:\n got {}\nwant {want}",
            out.text
        );
    }
}

/// `kzsim check DIR...`: one row per history found, the verdicts of the corpus above, and
/// the exit status of the worst verdict (a violation beats unknown and bad input).
#[test]
fn batch_over_directories() {
    let out = run_to_string(&args(data(""), None));
    assert!(!out.input_error, "{}", out.text);
    assert_eq!(out.code, VIOLATED, "{}", out.text);
    for (file, _, code, _) in CORPUS {
        let verdict = ["ok", "violated", "unknown"][*code as usize];
        let row = out
            .text
            .lines()
            .find(|l| l.starts_with(&data(file).display().to_string()))
            .unwrap_or_else(|| panic!("no row for {file}:\n{}", out.text));
        assert!(row.contains(&format!(" {verdict} ")), "{file}: {row}");
    }
    assert!(
        out.text.contains(&format!(
            "{} histories: 9 ok, 8 violated, 0 unknown, 0 bad input",
            CORPUS.len()
        )),
        "{}",
        out.text
    );

    // Only ok histories: exit 0. Add one bad input and one with nothing to judge: exit 2.
    let mut a = args(data("kv/c03-ok.edn"), None);
    a.files.push(data("set/ok.json"));
    assert_eq!(run_to_string(&a).code, OK);
    a.files.push(write(
        "b.edn",
        "{:process 0 :type :invoke :f :put :value 1}",
    ));
    a.files.push(write("n.edn", ""));
    a.json = true;
    let out = run_to_string(&a);
    assert_eq!(out.code, UNKNOWN, "{}", out.text);
    let doc: serde_json::Value = serde_json::from_str(&out.text).expect("json");
    assert_eq!(doc["summary"]["histories"], 4);
    assert_eq!(doc["summary"]["ok"], 2);
    assert_eq!(doc["summary"]["bad_input"], 1);
    assert_eq!(doc["summary"]["unknown"], 1);
    assert_eq!(doc["histories"][2]["verdict"], "bad-input");
    assert!(doc["histories"][2]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("line 1: op #0: a :put needs a string :value")));
    assert_eq!(doc["histories"][0]["model"], "kv");
    assert_eq!(doc["histories"][1]["ops"], 2);

    // A directory without histories is bad input, never ok.
    let empty = std::env::temp_dir().join(format!("kzsim-check-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("dir");
    let out = run_to_string(&args(empty, None));
    assert_eq!((out.code, out.input_error), (UNKNOWN, true), "{}", out.text);
}

//! `kzsim check` end to end through `run_to_string`: exit codes, input errors, JSON output.

use kzsim::check::cli::{run_to_string, CheckArgs, ModelArg};
use std::path::PathBuf;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kzsim-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write temp file");
    p
}

fn args(file: PathBuf) -> CheckArgs {
    CheckArgs::new(vec![file])
}

const OK: &str = r#"{"format":1,"ops":[
 {"process":1,"f":"write","key":"x","value":1,"invoke":0,"complete":10,"outcome":"ok"},
 {"process":2,"f":"read","key":"x","invoke":20,"complete":30,"outcome":"ok","ret":{"type":"value","value":1}}]}"#;

#[test]
fn exit_codes() {
    let ok = run_to_string(&args(write("ok.json", OK)));
    assert_eq!(ok.code, 0, "{}", ok.text);
    assert!(!ok.input_error);

    let stale = OK.replace(r#""value":1}}"#, r#""value":null}}"#);
    let bad = run_to_string(&args(write("stale.json", &stale)));
    assert_eq!(bad.code, 1, "{}", bad.text);
    assert!(bad.text.contains("VIOLATED"), "{}", bad.text);

    let mut budget = args(write("ok2.json", OK));
    budget.steps_max = Some(1);
    assert_eq!(run_to_string(&budget).code, 2);

    let malformed = run_to_string(&args(write(
        "bad.json",
        &OK.replace(r#""outcome":"ok","ret""#, r#""outcome":"okay","ret""#),
    )));
    assert_eq!(malformed.code, 2);
    assert!(malformed.input_error);
    assert!(
        malformed
            .text
            .contains("ops[1].outcome: unknown variant `okay`"),
        "{}",
        malformed.text
    );

    let mut wrong_model = args(write(
        "cas.json",
        &OK.replace(
            r#""f":"write","key":"x","value":1"#,
            r#""f":"cas","key":"x","from":0,"to":1"#,
        ),
    ));
    wrong_model.model = Some(ModelArg::Register);
    let out = run_to_string(&wrong_model);
    assert_eq!((out.code, out.input_error), (2, true));
    assert!(
        out.text
            .contains("ops[0].f: `cas` is not an operation of the register model"),
        "{}",
        out.text
    );

    let missing = run_to_string(&args(PathBuf::from("/nonexistent/h.json")));
    assert_eq!((missing.code, missing.input_error), (2, true));
}

#[test]
fn json_output_and_edn_with_initial_value() {
    let mut a = args(write("ok3.json", OK));
    a.json = true;
    let out = run_to_string(&a);
    let doc: serde_json::Value = serde_json::from_str(&out.text).expect("json output");
    assert_eq!(doc["verdict"], "ok");
    assert_eq!(doc["reports"][0]["checker"], "linear.kv");

    let edn = "{:process 0 :type :invoke :f :cas :value [0 1]}\n{:process 0 :type :ok :f :cas :value [0 1]}\n";
    let mut a = args(write("h.edn", edn));
    assert_eq!(
        run_to_string(&a).code,
        1,
        "initial nil: cas from 0 cannot succeed"
    );
    a.initial = "0".into();
    assert_eq!(run_to_string(&a).code, 0);
    a.initial = "zero".into();
    let out = run_to_string(&a);
    assert_eq!((out.code, out.input_error), (2, true));
}

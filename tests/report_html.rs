//! The HTML report renders in a real browser: lanes, the checker panel and the violation
//! marker are in the DOM after the page's script ran, the script raised no error, and the
//! colours the browser computes say what the legend says: green for ok, blue (not red) for
//! a definite error, grey for an unavailable or unknown outcome, red for a violation only;
//! a healthy run's page is mostly green.
//!
//! Needs Debian's `chromium` (`/usr/bin/chromium`, or `KZSIM_CHROMIUM=<path>`). Without it
//! the browser tests fail with instructions, unless `KZSIM_SKIP_BROWSER=1`.

use kzsim::check::{CheckReport, CheckStats, Verdict, Violation};
use kzsim::history::{Call, Event, EventRecord, History, Op, Outcome, Ret, ZkEvent, ZkRole};
use kzsim::history::{SimEvent, SimTime};
use kzsim::report::{render_html, render_run_html, Highlight};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ev(ms: u64, node: &str, event: impl Into<Event>) -> EventRecord {
    EventRecord {
        at: SimTime::from_millis(ms),
        node: node.to_string(),
        event: event.into(),
    }
}

fn op(
    process: u64,
    call: Call,
    invoke_ms: u64,
    complete_ms: Option<u64>,
    outcome: Outcome,
    ret: Ret,
) -> Op {
    Op {
        process,
        session: Some(0x1_0000_0000 + process as i64),
        node: Some("zk1".into()),
        call,
        invoke: SimTime::from_millis(invoke_ms),
        complete: complete_ms.map(SimTime::from_millis),
        outcome,
        ret,
        zxid: Some(0x1_0000_0001),
    }
}

/// A leader crash with a stale read: the kind of history a checker flags.
fn story() -> History {
    let mut h = History::new();
    let decided = |leader| ZkEvent::ElectionDecided {
        leader,
        zxid: 0,
        round: 1,
        peer_epoch: 0,
        votes: vec![(1, leader), (2, leader), (3, leader)],
        took_ms: 200,
    };
    h.events = vec![
        ev(0, "zk1", SimEvent::NodeStarted { incarnation: 1 }),
        ev(0, "zk2", SimEvent::NodeStarted { incarnation: 1 }),
        ev(0, "zk3", SimEvent::NodeStarted { incarnation: 1 }),
        ev(
            1,
            "zk1",
            ZkEvent::RoleChanged {
                role: ZkRole::Looking,
                epoch: 0,
            },
        ),
        ev(
            1,
            "zk2",
            ZkEvent::RoleChanged {
                role: ZkRole::Looking,
                epoch: 0,
            },
        ),
        ev(
            1,
            "zk3",
            ZkEvent::RoleChanged {
                role: ZkRole::Looking,
                epoch: 0,
            },
        ),
        ev(200, "zk1", decided(3)),
        ev(200, "zk2", decided(3)),
        ev(200, "zk3", decided(3)),
        ev(
            200,
            "zk1",
            ZkEvent::RoleChanged {
                role: ZkRole::Following,
                epoch: 0,
            },
        ),
        ev(
            200,
            "zk2",
            ZkEvent::RoleChanged {
                role: ZkRole::Following,
                epoch: 0,
            },
        ),
        ev(
            200,
            "zk3",
            ZkEvent::RoleChanged {
                role: ZkRole::Leading,
                epoch: 0,
            },
        ),
        ev(
            250,
            "zk3",
            ZkEvent::LeaderEstablished {
                epoch: 1,
                quorum: vec![1, 2, 3],
            },
        ),
        ev(
            2000,
            "world",
            SimEvent::Partitioned {
                groups: vec![vec!["zk3".into()], vec!["zk1".into(), "zk2".into()]],
            },
        ),
        ev(
            3000,
            "zk3",
            SimEvent::NodeCrashed {
                torn: false,
                disk_lost: false,
                page_cache_kept: false,
            },
        ),
        ev(3500, "world", SimEvent::Healed),
        ev(4000, "zk3", SimEvent::NodeStarted { incarnation: 2 }),
    ];
    h.ops = vec![
        op(
            0,
            Call::Write {
                key: "x".into(),
                value: 1,
            },
            300,
            Some(320),
            Outcome::Ok,
            Ret::None,
        ),
        op(
            0,
            Call::Write {
                key: "x".into(),
                value: 2,
            },
            2100,
            None,
            Outcome::Info,
            Ret::None,
        ),
        op(
            1,
            Call::Read { key: "x".into() },
            400,
            Some(410),
            Outcome::Ok,
            Ret::Value { value: Some(1) },
        ),
        op(
            1,
            Call::Read { key: "x".into() },
            3600,
            Some(3610),
            Outcome::Ok,
            Ret::Value { value: Some(0) },
        ),
        op(
            1,
            Call::Cas {
                key: "x".into(),
                from: 7,
                to: 8,
            },
            3700,
            Some(3720),
            Outcome::Fail,
            Ret::Error {
                code: -103,
                name: "BadVersion".into(),
            },
        ),
        // A read during the partition that no server answered: unavailable, not refused.
        op(
            1,
            Call::Read { key: "x".into() },
            2200,
            Some(2500),
            Outcome::Fail,
            Ret::Error {
                code: -4,
                name: "ConnectionLoss".into(),
            },
        ),
    ];
    h
}

/// Op indices in [`story`] by outcome class.
const OP_OK: usize = 2;
const OP_INFO: usize = 1;
const OP_DEFINITE: usize = 4;
const OP_CONNECTION_LOSS: usize = 5;
const OP_IN_VIOLATION: usize = 3;

/// What the checkers said about [`story`]: the linearizability checker found the stale read
/// (the [`highlight`]), the session checker passed, liveness could not decide.
fn story_checks() -> Vec<CheckReport> {
    let violation = Violation {
        checker: "linear.cas-register".into(),
        message: "read of x returned 0 after write x=1 completed".into(),
        ops: vec![0, 3],
        events: vec![14],
        state_before: None,
    };
    let mut linear = CheckReport::new(
        "linear.cas-register",
        Verdict::Violated(vec![violation]),
        CheckStats {
            checked: 5,
            partitions: 1,
            ..Default::default()
        },
    );
    linear.notes.push("1 read without a zxid".into());
    vec![
        CheckReport::new(
            "zk.sessions",
            Verdict::Ok,
            CheckStats {
                checked: 4,
                ..Default::default()
            },
        ),
        linear,
        CheckReport::new(
            "liveness.after-heal",
            Verdict::Unknown {
                reason: "no heal <in> this history".into(),
            },
            CheckStats::default(),
        ),
    ]
}

fn highlight() -> Highlight {
    Highlight {
        checker: Some("linear.cas-register".into()),
        label: "linearizability: read of x returned 0 after write x=1 completed".into(),
        ops: vec![0, 3],
        events: vec![14],
        at: Some(SimTime::from_millis(3600)),
    }
}

#[test]
fn html_is_self_contained_with_lanes() {
    let html = render_html(&story(), "stale read <x>", &[highlight()]);
    assert!(!html.contains("http://"), "page references http://");
    assert!(!html.contains("https://"), "page references https://");
    for lane in ["zk1", "zk2", "zk3", "network", "client-0", "client-1"] {
        assert!(
            html.contains(&format!("data-lane=\"{lane}\"")),
            "no lane {lane}"
        );
    }
    assert_eq!(
        html.matches("\" data-lane=\"").count(),
        6,
        "one lane per node, network and client"
    );
    assert!(html.contains("id=\"violation\" class=\"violation\""));
    assert!(html.contains("stale read &lt;x&gt;"));
}

/// A slow disk is drawn on its node's lane from the fault until it is restored (or the end
/// of the run), with the latency in its tooltip, and the legend says what the span is.
#[test]
fn a_slow_disk_is_a_span_on_its_node_lane_with_a_legend_key() {
    let mut h = story();
    let changed = |min, max, restored| SimEvent::DiskChanged {
        fsync_min_us: min,
        fsync_max_us: max,
        restored,
    };
    h.events
        .push(ev(3_600, "zk2", changed(200_000, 200_000, false)));
    h.events
        .push(ev(3_700, "zk1", changed(50_000, 400_000, false)));
    h.events.push(ev(3_900, "zk2", changed(500, 2_000, true)));
    h.events.sort_by_key(|r| r.at);
    let html = render_html(&h, "slow disks", &[]);
    let spans: Vec<&str> = html
        .match_indices("class=\"fault disk\"")
        .map(|(i, _)| &html[i..i + html[i..].find("</span>").expect("span ends")])
        .collect();
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert!(
        spans
            .iter()
            .any(|s| s.contains("zk2 disk slowed: each fsync 200ms")
                && s.contains("3.600s .. 3.900s")),
        "zk2's span lasts until its disk is restored: {spans:?}"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.contains("zk1 disk slowed: each fsync 50ms..400ms")
                && s.contains("end (never restored)")),
        "zk1's span lasts to the end: {spans:?}"
    );
    let legend = html.find("id=\"legend\"").expect("a legend");
    assert!(html[legend..].contains("class=\"key fault disk\">slow disk<"));
}

/// The class of op `i`'s element (`op <class>[ open][ hl]`), from the page's text.
fn op_class_attr(html: &str, i: usize) -> String {
    let marker = format!("\" id=\"op-{i}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no element op-{i}"));
    let start = html[..at]
        .rfind("class=\"")
        .unwrap_or_else(|| panic!("op-{i} has no class"));
    html[start + "class=\"".len()..at].to_string()
}

#[test]
fn ops_have_three_outcome_classes_and_lanes_say_what_they_are() {
    let html = render_run_html(&story(), "t", &story_checks(), &[highlight()]);
    assert_eq!(op_class_attr(&html, OP_OK), "op ok");
    assert_eq!(op_class_attr(&html, OP_DEFINITE), "op definite");
    assert_eq!(op_class_attr(&html, OP_INFO), "op unavailable open");
    assert_eq!(op_class_attr(&html, OP_CONNECTION_LOSS), "op unavailable");
    assert_eq!(op_class_attr(&html, OP_IN_VIOLATION), "op ok hl");
    // The legend comes before the timeline and names the three colours.
    let legend = html.find("id=\"legend\"").expect("a legend");
    assert!(legend < html.find("id=\"timeline\"").expect("a timeline"));
    for key in [
        "class=\"key op ok\"",
        "class=\"key op definite\"",
        "class=\"key op unavailable\"",
        "class=\"key op ok hl\"",
    ] {
        assert!(html[legend..].contains(key), "legend lacks {key}");
    }
    // Servers and client processes cannot be confused.
    assert!(html.contains(
        "data-lane=\"zk1\" data-kind=\"server\"><div class=\"lane-label\" title=\"zk1 (node zk1)\">zk1</div>"
    ));
    assert!(html.contains(
        "data-lane=\"client-1\" data-kind=\"process\"><div class=\"lane-label\" title=\"operations of client process 1\">client process 1</div>"
    ));
    assert!(!html.contains(">client 1<"));
    // The checker panel comes first, one row per checker, linking to the first violation.
    let panel = html.find("id=\"checkers\"").expect("a checker panel");
    assert!(panel < html.find("id=\"violation\"").expect("a violation list"));
    assert!(html.contains("3 checkers: 1 ok, 1 violated, 0 outside the fault model, 1 unknown."));
    let row = |n: usize| {
        let from = html
            .find(&format!("id=\"checker-{n}\""))
            .unwrap_or_else(|| panic!("no row {n}"));
        let to = from + html[from..].find("</tr>").expect("row ends");
        html[from..to].to_string()
    };
    assert!(row(1).contains("<code>zk.sessions</code>") && row(1).contains(">ok<"));
    assert!(row(2).contains("VIOLATED (1)"));
    assert!(row(2).contains("5 checked, 1 partitions"));
    assert!(row(2).contains("href=\"#violation-1\""));
    assert!(row(2).contains("href=\"#mark-1\""));
    assert!(row(2).contains("1 notes"));
    assert!(row(3).contains("unknown: no heal &lt;in&gt; this history"));
    assert!(!html.contains("id=\"checker-4\""));
    // Without checker reports, no panel.
    assert!(!render_html(&story(), "t", &[highlight()]).contains("id=\"checkers\""));
}

/// A unique fresh directory under the system temp dir.
fn fresh_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir =
        std::env::temp_dir().join(format!("kzsim-report-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("KZSIM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new("/usr/bin/chromium");
    p.exists().then(|| p.to_path_buf())
}

/// Loads `html` in headless Chromium; returns (DOM after scripts ran, Chromium's stderr).
fn load_in_chromium(browser: &Path, html: &str, tag: &str) -> (String, String) {
    let dir = fresh_dir(tag);
    let page = dir.join("report.html");
    std::fs::write(&page, html).unwrap_or_else(|e| panic!("write {}: {e}", page.display()));
    let profile = dir.join("profile");
    let out_path = dir.join("dom.html");
    let err_path = dir.join("stderr.txt");
    let out = std::fs::File::create(&out_path).expect("create dom output file");
    let err = std::fs::File::create(&err_path).expect("create stderr file");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", browser.display()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium did not finish within 120s (page {})",
                    page.display()
                );
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let dom = std::fs::read_to_string(&out_path).expect("read dumped DOM");
    let stderr = std::fs::read_to_string(&err_path).expect("read chromium stderr");
    assert!(
        status.success(),
        "chromium exited with {status}; stderr:\n{stderr}"
    );
    assert!(
        dom.contains("</html>"),
        "chromium dumped no DOM; stderr:\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    (dom, stderr)
}

/// Console errors Chromium logged: uncaught exceptions and console.error lines.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("Uncaught")
                || (l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Error")))
        })
        .collect()
}

/// The browser, or `None` when `KZSIM_SKIP_BROWSER=1` (then the test returns early).
fn browser_or_skip() -> Option<PathBuf> {
    if std::env::var("KZSIM_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("KZSIM_SKIP_BROWSER=1: browser test skipped");
        return None;
    }
    let Some(browser) = chromium() else {
        panic!(
            "headless Chromium not found at /usr/bin/chromium: install it with \
             `apt-get update && apt-get install -y chromium` (or set KZSIM_CHROMIUM=<path>, \
             or KZSIM_SKIP_BROWSER=1 to skip this test)"
        );
    };
    Some(browser)
}

/// A script appended to a page under test: writes into `<pre id="probe">` (as JSON) the
/// styles Chromium computed for the story's ops, the legend keys, the violation mark and
/// the checker verdicts, and how many op elements on the timeline have each background.
const PROBE_JS: &str = r##"<script>
(function () {
  function style(sel) {
    var e = document.querySelector(sel);
    if (!e) { return null; }
    var s = getComputedStyle(e);
    return { bg: s.backgroundColor, outline: s.outlineColor, outline_style: s.outlineStyle, color: s.color };
  }
  var counts = {};
  document.querySelectorAll("#timeline .op, #timeline .agg").forEach(function (e) {
    var c = getComputedStyle(e).backgroundColor;
    counts[c] = (counts[c] || 0) + 1;
  });
  var out = {
    ok: style("#op-OK"), definite: style("#op-DEFINITE"), info: style("#op-INFO"),
    connection_loss: style("#op-CONNLOSS"), in_violation: style("#op-INVIOLATION"),
    legend_ok: style("#legend .key.op.ok:not(.hl)"), legend_definite: style("#legend .key.op.definite"),
    legend_unavailable: style("#legend .key.op.unavailable"), legend_violation: style("#legend .key.op.hl"),
    mark: style("#mark-1"), verdict_violated: style("#checkers .verdict.violated"),
    verdict_ok: style("#checkers .verdict.ok"), counts: counts
  };
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"##;

/// `html` with [`PROBE_JS`] before `</body>`.
fn with_probe(html: &str) -> String {
    let probe = PROBE_JS
        .replace("op-OK", &format!("op-{OP_OK}"))
        .replace("op-DEFINITE", &format!("op-{OP_DEFINITE}"))
        .replace("op-INFO", &format!("op-{OP_INFO}"))
        .replace("op-CONNLOSS", &format!("op-{OP_CONNECTION_LOSS}"))
        .replace("op-INVIOLATION", &format!("op-{OP_IN_VIOLATION}"));
    assert_eq!(html.matches("</body>").count(), 1);
    html.replace("</body>", &format!("{probe}</body>"))
}

/// The probe's findings in a dumped DOM.
fn probe(dom: &str) -> serde_json::Value {
    let start = dom
        .find("<pre id=\"probe\">")
        .unwrap_or_else(|| panic!("the probe did not run; DOM:\n{dom}"))
        + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").expect("probe ends");
    let text = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("probe output {text:?}: {e}"))
}

/// `rgb(r, g, b)` (or `rgba(..)`) as numbers.
fn rgb(css: &str) -> (i32, i32, i32) {
    let inner = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let v: Vec<i32> = inner
        .split(',')
        .take(3)
        .map(|x| {
            x.trim()
                .parse()
                .unwrap_or_else(|_| panic!("not a colour: {css}"))
        })
        .collect();
    assert_eq!(v.len(), 3, "not a colour: {css}");
    (v[0], v[1], v[2])
}

fn is_green((r, g, b): (i32, i32, i32)) -> bool {
    g > r + 40 && g > b + 40
}
fn is_blue((r, g, b): (i32, i32, i32)) -> bool {
    b > r + 60 && b > g + 30
}
fn is_grey((r, g, b): (i32, i32, i32)) -> bool {
    r.max(g).max(b) - r.min(g).min(b) < 20 && r > 60 && r < 230
}
fn is_red((r, g, b): (i32, i32, i32)) -> bool {
    r > 150 && g < 90 && b < 90
}

/// A computed style property of a probed element.
fn prop<'a>(p: &'a serde_json::Value, element: &str, property: &str) -> &'a str {
    p[element][property]
        .as_str()
        .unwrap_or_else(|| panic!("probe has no {element}.{property}: {p}"))
}

#[test]
fn html_renders_in_headless_chromium_without_errors() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let html = render_run_html(&story(), "stale read", &story_checks(), &[highlight()]);
    let (dom, stderr) = load_in_chromium(&browser, &with_probe(&html), "ok");
    assert!(
        dom.contains("data-js=\"ok\""),
        "the page's script did not run to the end:\n{stderr}"
    );
    assert!(
        dom.contains("<span id=\"js-errors\">0</span>"),
        "the page counted JavaScript errors"
    );
    assert!(
        console_errors(&stderr).is_empty(),
        "console errors:\n{}",
        console_errors(&stderr).join("\n")
    );
    for lane in ["zk1", "zk2", "zk3", "network", "client-0", "client-1"] {
        assert!(
            dom.contains(&format!("data-lane=\"{lane}\"")),
            "no lane {lane} in the rendered DOM"
        );
    }
    assert!(
        dom.contains("id=\"violation\" class=\"violation\""),
        "no violation element in the rendered DOM"
    );
    assert!(
        dom.contains("class=\"has-violation\""),
        "the script did not see the violation"
    );
    assert!(
        dom.contains("id=\"mark-1\""),
        "no violation mark on the timeline"
    );
    assert!(
        dom.contains("class=\"op ok hl\" id=\"op-3\""),
        "highlighted op not drawn"
    );
    assert!(
        dom.contains("id=\"checker-2\""),
        "no checker panel in the rendered DOM"
    );

    // The colours Chromium computed: three outcome colours, red only for the violation,
    // and each the same as its legend key.
    let p = probe(&dom);
    let ok = rgb(prop(&p, "ok", "bg"));
    let definite = rgb(prop(&p, "definite", "bg"));
    let info = rgb(prop(&p, "info", "bg"));
    let lost = rgb(prop(&p, "connection_loss", "bg"));
    assert!(is_green(ok), "ok op is {ok:?}, not green");
    assert!(
        is_blue(definite) && !is_red(definite),
        "definite error (BadVersion) is {definite:?}, not blue"
    );
    assert!(
        is_grey(info) && is_grey(lost),
        "unavailable ops (info {info:?}, ConnectionLoss {lost:?}) are not grey"
    );
    assert_eq!(info, lost, "info and ConnectionLoss differ in colour");
    assert_eq!(prop(&p, "in_violation", "outline_style"), "solid");
    let outline = rgb(prop(&p, "in_violation", "outline"));
    assert!(
        is_red(outline),
        "op in a violation has outline {outline:?}, not red"
    );
    let mark = rgb(prop(&p, "mark", "bg"));
    assert!(is_red(mark), "violation mark is {mark:?}, not red");
    for (op, key) in [
        ("ok", "legend_ok"),
        ("definite", "legend_definite"),
        ("info", "legend_unavailable"),
    ] {
        assert_eq!(
            prop(&p, op, "bg"),
            prop(&p, key, "bg"),
            "{op} op and its legend key differ"
        );
    }
    assert_eq!(
        prop(&p, "in_violation", "outline"),
        prop(&p, "legend_violation", "outline"),
        "violation outline and its legend key differ"
    );
    assert!(is_red(rgb(prop(&p, "verdict_violated", "color"))));
    assert!(is_green(rgb(prop(&p, "verdict_ok", "color"))));
    for (colour, n) in p["counts"].as_object().expect("counts") {
        assert!(
            !is_red(rgb(colour)),
            "{n} op elements are red ({colour}) without being in a violation"
        );
    }

    // The detectors can fail: a page with a broken script is caught by both.
    let broken = html.replace("</body>", "<script>undefinedFunction();</script></body>");
    let (dom, stderr) = load_in_chromium(&browser, &broken, "broken");
    assert!(
        dom.contains("<span id=\"js-errors\">1</span>"),
        "error counter missed an uncaught error"
    );
    assert!(
        !console_errors(&stderr).is_empty(),
        "stderr scan missed an uncaught error:\n{stderr}"
    );
}

/// A healthy run (every checker passes), with definite errors among its operations (a
/// ZooKeeper workload meets NodeExists and BadVersion as a matter of course): in the browser
/// most op elements are green, none is red, and the definite errors are blue.
#[test]
fn healthy_run_page_is_mostly_green_in_chromium() {
    let scenario =
        kzsim::scenario::load(std::path::Path::new("scenarios/zk-idle-leader-epochs.toml"))
            .expect("scenario loads");
    let o = kzsim::runner::run_scenario(&scenario, &kzsim::runner::RunOptions::default());
    assert_eq!(
        o.verdict(),
        kzsim::runner::RunVerdict::Pass,
        "not a healthy run: {}",
        o.verdict_line()
    );
    let highlights = kzsim::report::folder::highlights(&o);
    assert!(highlights.is_empty());
    let html = render_run_html(&o.history, "healthy", &o.checks, &highlights);
    assert!(
        html.contains("class=\"op definite\""),
        "the run has no definite error to draw; pick a scenario with some"
    );
    assert!(
        !html.contains("id=\"aggregation-note\""),
        "the run's ops are aggregated; pick a scenario with fewer than OP_BARS_MAX ops"
    );
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let (dom, stderr) = load_in_chromium(&browser, &with_probe(&html), "healthy");
    assert!(
        console_errors(&stderr).is_empty(),
        "console errors:\n{}",
        console_errors(&stderr).join("\n")
    );
    assert!(dom.contains("<span id=\"js-errors\">0</span>"));
    let p = probe(&dom);
    let counts: BTreeMap<String, u64> = p["counts"]
        .as_object()
        .expect("counts")
        .iter()
        .map(|(c, n)| (c.clone(), n.as_u64().expect("a count")))
        .collect();
    let total: u64 = counts.values().sum();
    let green: u64 = counts
        .iter()
        .filter(|(c, _)| is_green(rgb(c)))
        .map(|(_, n)| n)
        .sum();
    let blue: u64 = counts
        .iter()
        .filter(|(c, _)| is_blue(rgb(c)))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        total as usize,
        o.history.ops.len(),
        "one element per op: {counts:?}"
    );
    assert!(
        green * 10 >= total * 9,
        "only {green} of {total} op elements are green: {counts:?}"
    );
    assert!(blue > 0, "no definite error is blue: {counts:?}");
    assert!(
        counts.keys().all(|c| !is_red(rgb(c))),
        "red op elements on a healthy page: {counts:?}"
    );
}

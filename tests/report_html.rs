//! The HTML report renders in a real browser: lanes and the violation marker are in the DOM
//! after the page's script ran, and the script raised no error.
//!
//! Needs Debian's `chromium` (`/usr/bin/chromium`, or `KZSIM_CHROMIUM=<path>`). Without it
//! the browser test fails with instructions, unless `KZSIM_SKIP_BROWSER=1`.

use kzsim::history::{Call, Event, EventRecord, History, Op, Outcome, Ret, ZkEvent, ZkRole};
use kzsim::report::{render_html, Highlight};
use kzsim::sim::{SimEvent, SimTime};
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
    ];
    h
}

fn highlight() -> Highlight {
    Highlight {
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

#[test]
fn html_renders_in_headless_chromium_without_errors() {
    if std::env::var("KZSIM_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("KZSIM_SKIP_BROWSER=1: browser test skipped");
        return;
    }
    let Some(browser) = chromium() else {
        panic!(
            "headless Chromium not found at /usr/bin/chromium: install it with \
             `apt-get update && apt-get install -y chromium` (or set KZSIM_CHROMIUM=<path>, \
             or KZSIM_SKIP_BROWSER=1 to skip this test)"
        );
    };

    let html = render_html(&story(), "stale read", &[highlight()]);
    let (dom, stderr) = load_in_chromium(&browser, &html, "ok");
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

//! The quorum table is measured, so it must agree with majority arithmetic: N servers
//! tolerate ⌊(N−1)/2⌋ crashed servers, 4 no more than 3. Reads without a quorum fail unless
//! read-only mode is on (and at least one server is up).

use kzsim::teach::quorum_table;

#[test]
fn measured_tolerance_matches_majority_arithmetic_and_read_only_mode_serves_reads() {
    let table = quorum_table(5, 1, false);
    println!("{table}");
    for (n, expected) in [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2)] {
        assert_eq!(
            table.tolerance(n),
            Some(expected),
            "{n} servers should tolerate {expected}\n{table}"
        );
    }
    for size in &table.sizes {
        let n = size.servers;
        let majority = n / 2 + 1;
        for r in &size.rows {
            let k = r.crashed;
            let quorum_up = n - k >= majority;
            let d = &r.default_mode;
            let ro = &r.read_only_mode;
            assert_eq!(d.write_ok(), quorum_up, "N={n} k={k} write\n{table}");
            assert_eq!(d.read_ok(), quorum_up, "N={n} k={k} read\n{table}");
            assert_eq!(
                ro.write_ok(),
                quorum_up,
                "N={n} k={k} read-only mode write\n{table}"
            );
            // Read-only mode: reads survive the loss of quorum while any server is up.
            assert_eq!(
                ro.read_ok(),
                k < n,
                "N={n} k={k} read-only mode read\n{table}"
            );
            if k >= 1 {
                assert_eq!(r.crashed_names.len(), k);
                assert!(r.first_election_ms.is_some(), "N={n}: a first leader");
                assert_eq!(
                    r.reelection_ms.is_some(),
                    quorum_up,
                    "N={n} k={k}: a new leader exactly when a quorum is left\n{table}"
                );
            }
        }
    }
    let text = table.to_string();
    assert!(text.contains("4 servers tolerate 1 failure, same as 3: a majority of 4 is 3"));
    assert!(text.contains("2 servers tolerate 0 failures, same as 1: a majority of 2 is 2"));
}

#[test]
fn the_table_is_deterministic() {
    assert_eq!(quorum_table(3, 9, false), quorum_table(3, 9, false));
}

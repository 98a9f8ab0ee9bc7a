//! Build information for `kzsim --version` and campaign summaries: the git commit this
//! binary was built from, so that `kzsim merge` can refuse to combine shards of different
//! builds.
//!
//! Sets `KZSIM_GIT_COMMIT` for the crate: the `KZSIM_GIT_COMMIT` environment variable when
//! the builder sets it (a Docker build without `.git`, a CI job that knows its commit),
//! otherwise `git rev-parse HEAD` in the repository, otherwise `unknown`. It says which
//! commit HEAD pointed at, not whether the work tree had uncommitted changes.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Asks cargo to re-run this script when HEAD moves (a checkout, a commit), watching only
/// files that exist: a missing file would re-run the script on every build.
fn watch_head() {
    let mut paths = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        paths.push(head_ref);
    }
    for p in paths {
        if let Some(file) = git(&["rev-parse", "--git-path", &p]) {
            let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
            if file.is_file() {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KZSIM_GIT_COMMIT");
    let commit = match std::env::var("KZSIM_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            watch_head();
            git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string())
        }
    };
    println!("cargo:rustc-env=KZSIM_GIT_COMMIT={commit}");
}

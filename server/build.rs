//! Puts the built site (the wasm, JS and CSS cargo-leptos wrote, with their
//! precompressed `.br`/`.gz`) inside the binary, so that one file is all an
//! installation needs (`http/site.rs` serves it from memory), and names the
//! commit it was built from for `leasehold --version`.
//!
//! cargo-leptos builds the site before the server (release builds with
//! precompression do), in `LEPTOS_SITE_ROOT` (taken from the workspace's
//! root). Without a site there (a `cargo test` or `clippy` before any
//! `make build`) the binary carries none and serves `--site-root` from disk.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LEPTOS_SITE_ROOT");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    let site = workspace.join(std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".to_owned()));

    // A directory: cargo reruns this when anything under it changes, and
    // on every build while it does not exist.
    println!("cargo:rerun-if-changed={}", site.display());
    let mut files = Vec::new();
    if site.join("pkg").is_dir() {
        collect(&site, &site, &mut files);
    }
    files.sort();

    let mut out = String::from("/// The site this binary was built with: (path under the site root, bytes).\n");
    out.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        let _ = writeln!(out, "    ({name:?}, include_bytes!({:?})),", path.display().to_string());
    }
    out.push_str("];\n");
    let _ = writeln!(out, "/// The commit this binary was built from (empty when unknown).");
    let _ = writeln!(out, "pub const COMMIT: &str = {:?};", commit(&workspace));
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("site.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=cannot write {}: {e}", dest.display());
        std::process::exit(1);
    }
}

/// Every file under `dir`, named by its path from `root` with `/` between parts.
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Some(name) = path
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.to_str())
            .map(|p| p.replace('\\', "/"))
        {
            out.push((name, path));
        }
    }
}

/// `git rev-parse HEAD` of the workspace, rerun when HEAD moves (watching
/// only files that exist: a missing one would rerun this on every build).
fn commit(workspace: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(workspace)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    git(&["rev-parse", "HEAD"]).unwrap_or_default()
}

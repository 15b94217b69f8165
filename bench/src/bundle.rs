//! P6: the release wasm, raw and brotli (as cargo-leptos precompressed it).
//!
//! The build is split (`cargo leptos build --split`): the browser starts with
//! `leasehold.wasm` (the shell, the live state, the wire model and the Cluster
//! page) and fetches a page's modules the first time it shows that page, as
//! `__wasm_split_manifest.json` lists them. The goal is on the first; each
//! page's modules are reported beside it, alone and with the first.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::report::{kib, Report};

const GOAL_BROTLI: u64 = 250 * 1024;
const PKG: &str = "target/site/pkg";

/// Raw and brotli bytes of `pkg/<name>.wasm`.
fn sizes(name: &str) -> anyhow::Result<(u64, u64)> {
    let wasm = Path::new(PKG).join(format!("{name}.wasm"));
    let raw = std::fs::metadata(&wasm)
        .with_context(|| format!("{} (run `make build` first)", wasm.display()))?
        .len();
    let brotli = std::fs::metadata(wasm.with_extension("wasm.br"))
        .with_context(|| {
            format!(
                "the brotli copy of {} (`cargo leptos build --precompress`)",
                wasm.display()
            )
        })?
        .len();
    Ok((raw, brotli))
}

pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let (raw, brotli) = sizes("leasehold")?;
    report.figure("P6", "first wasm (shell, live state, status bar), raw", kib(raw));
    report.goal(
        "P6",
        "first wasm, brotli",
        kib(brotli),
        "< 250 KiB",
        brotli < GOAL_BROTLI,
    );

    let manifest_path = Path::new(PKG).join("__wasm_split_manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("{} (a build without --split?)", manifest_path.display()))?;
    let modules: BTreeMap<String, Vec<String>> =
        serde_json::from_str(&manifest).with_context(|| format!("{} is not a manifest", manifest_path.display()))?;
    let mut all = (raw, brotli);
    let mut counted = std::collections::BTreeSet::new();
    for (page, files) in &modules {
        let mut page_brotli = 0;
        for file in files {
            let (file_raw, file_brotli) = sizes(file)?;
            page_brotli += file_brotli;
            if counted.insert(file.clone()) {
                all.0 += file_raw;
                all.1 += file_brotli;
            }
        }
        report.figure(
            "P6",
            format!("`{page}` page modules on first visit ({} files), brotli", files.len()),
            format!("{}; {} with the first", kib(page_brotli), kib(brotli + page_brotli)),
        );
    }
    report.figure(
        "P6",
        "all wasm, raw and brotli",
        format!("{}; {}", kib(all.0), kib(all.1)),
    );
    Ok(())
}

//! P6: the release wasm, raw and brotli (as cargo-leptos precompressed it).

use anyhow::Context;

use crate::report::{kib, Report};

const GOAL_BROTLI: u64 = 250 * 1024;

pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let wasm = std::path::Path::new("target/site/pkg/leasehold.wasm");
    let raw = std::fs::metadata(wasm)
        .with_context(|| format!("{} (run `make build` first)", wasm.display()))?
        .len();
    let brotli = std::fs::metadata(wasm.with_extension("wasm.br"))
        .context("the brotli copy of the wasm (`cargo leptos build --precompress`)")?
        .len();
    report.figure("P6", "wasm, raw", kib(raw));
    report.goal("P6", "wasm, brotli", kib(brotli), "< 250 KiB", brotli < GOAL_BROTLI);
    Ok(())
}

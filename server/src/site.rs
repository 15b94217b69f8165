//! The site the browser runs (the wasm modules, the JS that loads them, the
//! CSS, each with its precompressed `.br`/`.gz`): the one built into this
//! binary (see `build.rs`), served from memory, or a folder named by
//! `--site-root`, served from disk.
//!
//! Both are revalidated the same way: `Cache-Control: no-cache` with an
//! `ETag`, because the names are not hashed (`pkg/leasehold.wasm` is the
//! same name in every build) and a page must never run one build's modules
//! with another's. A built-in file's tag is a hash of its bytes; a folder's
//! is its size and modification time (`http/assets.rs`).

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::http::HeaderValue;

mod built_in {
    include!(concat!(env!("OUT_DIR"), "/site.rs"));
}

/// The commit this binary was built from (empty when it was not built from
/// a git checkout).
pub const COMMIT: &str = built_in::COMMIT;

/// Where the site is served from.
#[derive(Debug, Clone)]
pub enum Site {
    /// The files built into this binary.
    BuiltIn(&'static Files),
    /// A folder holding `pkg/`, read on each request.
    Folder(PathBuf),
}

impl Site {
    /// The site built into this binary, if it was built with one.
    pub fn built_in() -> Option<Site> {
        let files = Files::built_in();
        (!files.by_path.is_empty()).then_some(Site::BuiltIn(files))
    }

    /// `--site-root` when given, else the built-in site, else `target/site`
    /// (a binary built before its site, run from the repository).
    pub fn chosen(site_root: Option<&Path>) -> Site {
        match site_root {
            Some(root) => Site::Folder(root.to_owned()),
            None => Site::built_in().unwrap_or_else(|| Site::Folder(PathBuf::from("target/site"))),
        }
    }

    /// Which browser code this is: a hash of the wasm modules in `pkg/`,
    /// names and bytes, in name order (empty when there is none). The page
    /// carries it and compares it with the server's before it fetches a
    /// page's modules (see `app::build_id`).
    pub fn build_id(&self) -> String {
        match self {
            Site::BuiltIn(files) => files.build_id.clone(),
            Site::Folder(root) => {
                let Ok(entries) = std::fs::read_dir(root.join("pkg")) else {
                    return String::new();
                };
                let mut modules: Vec<(String, PathBuf)> = entries
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
                    .filter_map(|path| Some((path.file_name()?.to_str()?.to_owned(), path)))
                    .collect();
                modules.sort();
                // A module that cannot be read still counts, by its name.
                let read: Vec<(String, Vec<u8>)> = modules
                    .into_iter()
                    .map(|(name, path)| (name, std::fs::read(path).unwrap_or_default()))
                    .collect();
                hash_modules(read.iter().map(|(n, b)| (n.as_str(), b.as_slice())))
            }
        }
    }

    /// Where the site is, as the log and `--version` say it.
    pub fn describe(&self) -> String {
        match self {
            Site::BuiltIn(files) => format!("built in ({} files)", files.by_path.len()),
            Site::Folder(root) => format!("folder {}", root.display()),
        }
    }
}

/// The build id of modules given as (file name, bytes) in name order.
fn hash_modules<'a>(modules: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    let mut any = false;
    for (name, bytes) in modules {
        hasher.write(name.as_bytes());
        hasher.write(bytes);
        any = true;
    }
    if any {
        format!("{:016x}", hasher.finish())
    } else {
        String::new()
    }
}

/// One file of the built-in site, with its precompressed forms when built.
#[derive(Debug)]
pub struct Asset {
    pub plain: Encoded,
    pub br: Option<Encoded>,
    pub gzip: Option<Encoded>,
    pub content_type: &'static str,
}

/// A file's bytes in one encoding, and its tag.
#[derive(Debug)]
pub struct Encoded {
    pub bytes: &'static [u8],
    /// Made once, when the site is first read: answering only copies it.
    pub etag: HeaderValue,
}

impl Encoded {
    fn new(bytes: &'static [u8], encoding: &str) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write(bytes);
        Encoded {
            bytes,
            // Hex digits and an encoding's name: always a valid header value.
            etag: HeaderValue::from_str(&format!("\"{:x}-{:016x}{encoding}\"", bytes.len(), hasher.finish()))
                .unwrap_or_else(|_| HeaderValue::from_static("\"\"")),
        }
    }
}

/// The built-in site's files by path under the site root (`pkg/leasehold.js`).
#[derive(Debug)]
pub struct Files {
    pub by_path: BTreeMap<&'static str, Asset>,
    build_id: String,
}

impl Files {
    fn built_in() -> &'static Files {
        static FILES: OnceLock<Files> = OnceLock::new();
        FILES.get_or_init(|| Files::new(built_in::FILES))
    }

    /// The files of a site given as (path, bytes): a `.br` or `.gz` beside a
    /// file is that file precompressed.
    fn new(all: &'static [(&'static str, &'static [u8])]) -> Files {
        let bytes_of: BTreeMap<&str, &'static [u8]> = all.iter().copied().collect();
        let compressed = |path: &str| {
            ["br", "gz"].iter().any(|ext| {
                path.strip_suffix(ext)
                    .and_then(|p| p.strip_suffix('.'))
                    .is_some_and(|p| bytes_of.contains_key(p))
            })
        };
        let by_path = all
            .iter()
            .filter(|(path, _)| !compressed(path))
            .map(|&(path, bytes)| {
                let variant = |ext: &str, encoding: &str| {
                    bytes_of
                        .get(format!("{path}.{ext}").as_str())
                        .map(|b| Encoded::new(b, encoding))
                };
                let asset = Asset {
                    plain: Encoded::new(bytes, ""),
                    br: variant("br", "br"),
                    gzip: variant("gz", "gzip"),
                    content_type: content_type(path),
                };
                (path, asset)
            })
            .collect();
        let modules = all.iter().filter_map(|&(path, bytes)| {
            let name = path.strip_prefix("pkg/")?;
            (name.ends_with(".wasm") && !name.contains('/')).then_some((name, bytes))
        });
        Files {
            by_path,
            build_id: hash_modules(modules),
        }
    }
}

/// The content type of a site file by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("wasm") => "application/wasm",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precompressed_files_belong_to_theirs() {
        static ALL: &[(&str, &[u8])] = &[
            ("pkg/a.wasm", b"module a"),
            ("pkg/a.wasm.br", b"brotli of a"),
            ("pkg/a.wasm.gz", b"gzip of a"),
            ("pkg/leasehold.js", b"js"),
            ("pkg/leasehold.css.gz", b"an orphan"),
            ("pkg/nested/b.wasm", b"not a page module"),
        ];
        let files = Files::new(ALL);
        let paths: Vec<&str> = files.by_path.keys().copied().collect();
        assert_eq!(
            paths,
            [
                "pkg/a.wasm",
                "pkg/leasehold.css.gz",
                "pkg/leasehold.js",
                "pkg/nested/b.wasm"
            ]
        );
        let a = &files.by_path["pkg/a.wasm"];
        assert_eq!(a.br.as_ref().map(|e| e.bytes), Some(&b"brotli of a"[..]));
        assert_eq!(a.gzip.as_ref().map(|e| e.bytes), Some(&b"gzip of a"[..]));
        assert_eq!(a.content_type, "application/wasm");
        assert_ne!(Some(&a.plain.etag), a.br.as_ref().map(|e| &e.etag));
        assert!(files.by_path["pkg/leasehold.js"].br.is_none());
        // The build id is the modules directly in pkg/, as a folder's is.
        assert_eq!(files.build_id, hash_modules([("a.wasm", &b"module a"[..])]));
        assert_eq!(files.build_id.len(), 16);
        assert_eq!(Files::new(&[]).build_id, "");
    }

    #[test]
    fn a_folder_is_hashed_as_the_built_in_site_is() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("pkg")).expect("pkg");
        std::fs::write(dir.path().join("pkg/b.wasm"), b"module b").expect("write");
        std::fs::write(dir.path().join("pkg/a.wasm"), b"module a").expect("write");
        std::fs::write(dir.path().join("pkg/a.js"), b"not a module").expect("write");
        let folder = Site::Folder(dir.path().to_owned()).build_id();
        assert_eq!(
            folder,
            hash_modules([("a.wasm", &b"module a"[..]), ("b.wasm", &b"module b"[..])])
        );
        assert_eq!(Site::Folder(dir.path().join("nothing")).build_id(), "");
    }
}

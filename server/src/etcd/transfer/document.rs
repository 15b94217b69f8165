//! What an import reads, decoded without being held: an export document or
//! `etcdctl get --prefix -w json` output is read item by item from a
//! reader (the request's body spooled to a file, or the command line's
//! file), each value written to a temporary file as it is decoded. What
//! stays in memory is the keys, each with where its value lies; a value is
//! read back when a plan compares it, an apply writes it or an answer shows
//! it.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;

use app::model::{EtcdctlKv, ExportItem, ExportLease, EXPORT_FORMAT};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::registry::key_id;

/// Most bytes of keys a source holds in memory (its values are on disk).
pub const KEYS_MAX_BYTES: usize = 64 << 20;
/// Most keys a source holds.
pub const KEYS_MAX: usize = 1_000_000;

/// Where one value lies in a source's [`Values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    offset: u64,
    pub len: usize,
}

/// The values of a source, in an unnamed temporary file (gone with it).
pub struct Values {
    file: std::fs::File,
    writer: Option<BufWriter<std::fs::File>>,
    len: u64,
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Values({} bytes)", self.len)
    }
}

impl Values {
    pub fn new() -> std::io::Result<Values> {
        let file = tempfile::tempfile()?;
        let writer = BufWriter::with_capacity(256 << 10, file.try_clone()?);
        Ok(Values {
            file,
            writer: Some(writer),
            len: 0,
        })
    }

    /// Appends a value.
    pub fn push(&mut self, value: &[u8]) -> std::io::Result<Span> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the values are sealed"))?;
        writer.write_all(value)?;
        let span = Span {
            offset: self.len,
            len: value.len(),
        };
        self.len += value.len() as u64;
        Ok(span)
    }

    /// Ends the writing: every value pushed can be read.
    pub fn seal(&mut self) -> std::io::Result<()> {
        if let Some(mut writer) = self.writer.take() {
            writer.flush()?;
        }
        Ok(())
    }

    /// A value's bytes.
    pub fn read(&self, span: Span) -> std::io::Result<Vec<u8>> {
        let mut bytes = vec![0; span.len];
        self.file.read_exact_at(&mut bytes, span.offset)?;
        Ok(bytes)
    }

    /// Bytes of every value.
    pub fn bytes(&self) -> u64 {
        self.len
    }
}

/// One key of an import's source: the part after its prefix.
#[derive(Debug, Clone)]
pub struct SourceKey {
    pub suffix: Vec<u8>,
    pub value: Span,
    /// The document's lease id (0: none).
    pub lease: i64,
}

/// An import's source: its keys in order, their values on disk, with the
/// recorded leases' TTLs.
#[derive(Debug)]
pub struct Source {
    pub from: Vec<u8>,
    pub keys: Vec<SourceKey>,
    pub values: Values,
    /// Recorded TTLs (`None`: the lease was gone at export). etcdctl's
    /// output records none.
    pub ttls: HashMap<i64, Option<i64>>,
    /// The document is etcdctl's output.
    pub etcdctl: bool,
}

impl Source {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A key's value.
    pub fn value(&self, key: &SourceKey) -> std::io::Result<Vec<u8>> {
        self.values.read(key.value)
    }

    /// The lease a key is written on under `leases: recreate`: its recorded
    /// lease, when it has a TTL.
    pub fn recreated(&self, lease: i64) -> Option<(i64, i64)> {
        (lease != 0)
            .then(|| self.ttls.get(&lease).copied().flatten())
            .flatten()
            .map(|ttl| (lease, ttl))
    }

    /// Reads an export document or `etcdctl get --prefix -w json` output
    /// from `reader`, a key at a time; `from` is the prefix the keys are
    /// taken from (default: the export's prefix, or the longest common
    /// prefix of etcdctl's keys cut after its last `/`). A refusal says
    /// what is wrong with the document. Blocking: run it off the runtime.
    pub fn read_from(reader: impl Read, from: Option<&str>) -> Result<Source, String> {
        let mut sink = Sink {
            keys: Vec::new(),
            key_bytes: 0,
            values: Values::new().map_err(|e| format!("cannot make a temporary file for the values: {e}"))?,
        };
        let mut deserializer =
            serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(256 << 10, reader));
        let head = Top { sink: &mut sink }
            .deserialize(&mut deserializer)
            .map_err(|e| e.to_string())?;
        deserializer.end().map_err(|e| e.to_string())?;
        let Sink { keys, mut values, .. } = sink;
        values.seal().map_err(|e| format!("cannot write the values: {e}"))?;
        let etcdctl = head.kvs || head.header;
        if etcdctl && (head.items || head.format.is_some()) {
            return Err("the document is both an export (format, items) and etcdctl output (header, kvs)".to_owned());
        }
        let mut ttls = HashMap::new();
        if !etcdctl {
            match head.format.as_deref() {
                Some(EXPORT_FORMAT) => {}
                Some(other) => return Err(format!("format {other:?} is not {EXPORT_FORMAT:?}")),
                None => {
                    return Err(format!(
                        "the document is neither an export (format {EXPORT_FORMAT:?}) nor etcdctl's \
                         `get --prefix -w json` output (kvs)"
                    ))
                }
            }
            for lease in head.leases.unwrap_or_default() {
                if lease.ttl.is_some_and(|ttl| ttl < 1) {
                    return Err(format!(
                        "lease {} has ttl {:?}: a TTL is at least 1 s",
                        lease.id, lease.ttl
                    ));
                }
                ttls.insert(lease.id.0, lease.ttl);
            }
        }
        let from: Vec<u8> = match (from, head.prefix) {
            (Some(from), _) => from.as_bytes().to_vec(),
            (None, Some(prefix)) if !etcdctl => prefix.into_bytes(),
            _ => common_folder(keys.iter().map(|(key, _, _)| key.as_slice())),
        };
        let mut rooted = Vec::with_capacity(keys.len());
        for (key, value, lease) in keys {
            let Some(suffix) = key.strip_prefix(from.as_slice()) else {
                return Err(format!(
                    "the key {:?} is not under the document's prefix {:?}",
                    clipped(&key_id(&key)),
                    key_id(&from)
                ));
            };
            rooted.push(SourceKey {
                suffix: suffix.to_vec(),
                value,
                lease,
            });
        }
        rooted.sort_by(|a, b| a.suffix.cmp(&b.suffix));
        if let Some(pair) = rooted.windows(2).find(|pair| pair[0].suffix == pair[1].suffix) {
            let mut key = from.clone();
            key.extend_from_slice(&pair[0].suffix);
            return Err(format!("the document holds the key {:?} twice", key_id(&key)));
        }
        Ok(Source {
            from,
            keys: rooted,
            values,
            ttls,
            etcdctl,
        })
    }
}

/// The document's fields other than its keys.
#[derive(Default)]
struct Head {
    format: Option<String>,
    prefix: Option<String>,
    leases: Option<Vec<ExportLease>>,
    /// `items` was there (an export).
    items: bool,
    /// `kvs` or `header` was there (etcdctl).
    kvs: bool,
    header: bool,
}

/// Where the decoded keys go.
struct Sink {
    keys: Vec<(Vec<u8>, Span, i64)>,
    key_bytes: usize,
    values: Values,
}

impl Sink {
    fn push(&mut self, key: Vec<u8>, value: &[u8], lease: i64) -> Result<(), String> {
        if key.is_empty() {
            return Err("a key of the document is empty".to_owned());
        }
        self.key_bytes += key.len();
        if self.keys.len() >= KEYS_MAX || self.key_bytes > KEYS_MAX_BYTES {
            return Err(format!(
                "the document holds more than {KEYS_MAX} keys or {} MiB of keys: import it in parts",
                KEYS_MAX_BYTES >> 20
            ));
        }
        let span = self
            .values
            .push(value)
            .map_err(|e| format!("cannot write a value to the temporary file: {e}"))?;
        self.keys.push((key, span, lease));
        Ok(())
    }
}

struct Top<'a> {
    sink: &'a mut Sink,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = Head;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Head, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Head;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an export document or etcdctl's `get --prefix -w json` output (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
        let mut head = Head::default();
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                "format" => head.format = map.next_value()?,
                "prefix" => head.prefix = map.next_value()?,
                "leases" => head.leases = map.next_value()?,
                "items" => {
                    head.items = true;
                    map.next_value_seed(Items {
                        sink: self.sink,
                        etcdctl: false,
                    })?;
                }
                "kvs" => {
                    head.kvs = true;
                    map.next_value_seed(Items {
                        sink: self.sink,
                        etcdctl: true,
                    })?;
                }
                "header" => {
                    head.header = true;
                    map.next_value::<IgnoredAny>()?;
                }
                // `revision`, `exported_at`, etcdctl's `count` and `more`,
                // and anything a later format adds: read for nothing.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }
}

/// `items` (an export's) or `kvs` (etcdctl's), decoded one at a time.
struct Items<'a> {
    sink: &'a mut Sink,
    etcdctl: bool,
}

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.etcdctl { "kvs: a list" } else { "items: a list" })
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        if self.etcdctl {
            while let Some(kv) = seq.next_element::<EtcdctlKv>()? {
                let key = STANDARD
                    .decode(&kv.key)
                    .map_err(|e| A::Error::custom(format!("kvs[{i}].key is not base64: {e}")))?;
                let value = STANDARD
                    .decode(&kv.value)
                    .map_err(|e| A::Error::custom(format!("kvs[{i}].value is not base64: {e}")))?;
                self.sink.push(key, &value, kv.lease).map_err(A::Error::custom)?;
                i += 1;
            }
        } else {
            while let Some(item) = seq.next_element::<ExportItem>()? {
                let key = bytes_of(item.key, item.key_base64.as_deref())
                    .map_err(|e| A::Error::custom(format!("items[{i}].key_base64 is not base64: {e}")))?;
                let value = bytes_of(item.value, item.value_base64.as_deref())
                    .map_err(|e| A::Error::custom(format!("items[{i}].value_base64 is not base64: {e}")))?;
                self.sink
                    .push(key, &value, item.lease.map_or(0, |l| l.0))
                    .map_err(A::Error::custom)?;
                i += 1;
            }
        }
        Ok(())
    }
}

/// A key's id cut to what an error message quotes.
fn clipped(id: &str) -> String {
    match id.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", id.get(..at).unwrap_or_default()),
        None => id.to_owned(),
    }
}

/// Text, or the bytes of its base64 when given.
fn bytes_of(text: String, base64: Option<&str>) -> Result<Vec<u8>, base64::DecodeError> {
    match base64 {
        Some(encoded) => STANDARD.decode(encoded),
        None => Ok(text.into_bytes()),
    }
}

/// The longest prefix the keys share, cut after its last `/` (nothing
/// when it holds none): the folder they were read from.
fn common_folder<'a>(mut keys: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let Some(first) = keys.next() else {
        return Vec::new();
    };
    let mut common = first.len();
    for key in keys {
        common = common.min(first.iter().zip(key).take_while(|(a, b)| a == b).count());
    }
    let shared = first.get(..common).unwrap_or_default();
    match shared.iter().rposition(|b| *b == b'/') {
        Some(slash) => shared.get(..=slash).unwrap_or_default().to_vec(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Source, String> {
        Source::read_from(text.as_bytes(), None)
    }

    #[test]
    fn the_folder_of_keys_ends_at_a_slash() {
        let folder = |keys: &[&str]| String::from_utf8(common_folder(keys.iter().map(|k| k.as_bytes()))).ok();
        assert_eq!(folder(&["/a/x1", "/a/x2"]).as_deref(), Some("/a/"));
        assert_eq!(folder(&["/a/b/c"]).as_deref(), Some("/a/b/"));
        assert_eq!(folder(&["/a/x", "/b/y"]).as_deref(), Some("/"));
        assert_eq!(folder(&["ab", "ac"]).as_deref(), Some(""));
        assert_eq!(folder(&[]).as_deref(), Some(""));
    }

    #[test]
    fn a_document_is_read_byte_exact_and_refused_when_it_is_not_one() {
        // `prefix` after `items`: a field's place in the object is free.
        let source = read(
            r#"{"format":"leasehold-export/1","revision":5,"items":[
                {"key":"/a/y","value":"2","lease":"10"},
                {"key":"\ufffd","key_base64":"L2Ev/w==","value":"\ufffd","value_base64":"/w=="}],
                "leases":[{"id":"10","ttl":30}],"prefix":"/a/","later":{"x":[1]}}"#,
        );
        let Ok(source) = source else { panic!("{source:?}") };
        assert_eq!(source.from, b"/a/");
        let keys: Vec<&[u8]> = source.keys.iter().map(|k| k.suffix.as_slice()).collect();
        assert_eq!(keys, [&b"y"[..], &[0xff][..]]);
        let values: Vec<Vec<u8>> = source.keys.iter().filter_map(|k| source.value(k).ok()).collect();
        assert_eq!(values, [b"2".to_vec(), vec![0xff]]);
        assert_eq!(source.recreated(0x10), Some((0x10, 30)));

        let etcdctl =
            read(r#"{"header":{"revision":3},"kvs":[{"key":"L3gvYS9i","value":"dg==","lease":7}],"count":1}"#);
        let Ok(source) = etcdctl else { panic!("etcdctl output") };
        assert!(source.etcdctl);
        assert_eq!(source.from, b"/x/a/");
        assert_eq!(source.recreated(7), None, "etcdctl records no TTL");

        for bad in [
            r#"{"items":[]}"#,
            r#"{"format":"other/2","items":[]}"#,
            r#"{"format":"leasehold-export/1","prefix":"/a/","items":[{"key":"/b/x","value":""}]}"#,
            r#"{"format":"leasehold-export/1","prefix":"/a/","items":[{"key":"/a/x","value":""},{"key":"/a/x","value":""}]}"#,
            r#"{"format":"leasehold-export/1","prefix":"/a/","items":[{"key":"","value":""}]}"#,
            r#"{"format":"leasehold-export/1","items":[],"header":{}}"#,
            r#"{"kvs":[{"key":"not base64!","value":""}]}"#,
            r#"{"format":"leasehold-export/1","items":[]} trailing"#,
            r#"[1,2]"#,
            r#"{"format":"leasehold-export/1","items":[{"key":"/a/x","value":""}"#,
        ] {
            assert!(read(bad).is_err(), "{bad} was read");
        }
    }

    #[test]
    fn values_come_back_from_the_file() {
        let Ok(mut values) = Values::new() else {
            panic!("a temporary file")
        };
        let spans: Vec<Span> = [&b"one"[..], &[], &[0u8; 70_000][..]]
            .iter()
            .filter_map(|v| values.push(v).ok())
            .collect();
        assert!(values.seal().is_ok());
        let back: Vec<usize> = spans
            .iter()
            .filter_map(|s| values.read(*s).ok())
            .map(|v| v.len())
            .collect();
        assert_eq!(back, [3, 0, 70_000]);
        assert_eq!(
            spans.first().and_then(|s| values.read(*s).ok()).as_deref(),
            Some(&b"one"[..])
        );
    }
}

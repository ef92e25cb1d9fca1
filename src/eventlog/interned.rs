//! The projection's and the snapshot's compact forms. At the largest organization they hold a
//! few hundred thousand (target, account, status) and (target, account, kind) entries, made of
//! a few distinct strings: tens of targets, one id per account, a handful of statuses and
//! kinds. Each distinct string is stored once (`Interner`) and every entry points at it, so an
//! entry costs a few pointers instead of three allocations. On disk nothing changes: a
//! `Triples` reads and writes the same JSON list of three-string arrays as the
//! `Vec<(String, String, String)>` it replaced.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::domain::{Interner, Sym};

/// Equality and `Debug` by entries, in order (the interned strings are how they are stored,
/// not what they say).
macro_rules! by_entries {
    ($t:ty, $debug:ident) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.iter().eq(other.iter())
            }
        }

        impl Eq for $t {}

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.$debug().entries(self.iter()).finish()
            }
        }
    };
}

/// A list type made from (string, string, string) entries, through its `Collect` builder.
macro_rules! from_entries {
    ($t:ty, $builder:ty) => {
        impl<A: AsRef<str>, B: AsRef<str>, C: AsRef<str>> FromIterator<(A, B, C)> for $t {
            fn from_iter<I: IntoIterator<Item = (A, B, C)>>(iter: I) -> Self {
                let mut out = <$builder>::default();
                for (a, b, c) in iter {
                    out.add(a.as_ref(), b.as_ref(), c.as_ref());
                }
                out.build()
            }
        }

        impl<A: AsRef<str>, B: AsRef<str>, C: AsRef<str>> From<Vec<(A, B, C)>> for $t {
            fn from(v: Vec<(A, B, C)>) -> Self {
                v.into_iter().collect()
            }
        }
    };
}

/// A list of three-string entries, in order, its strings interned: the snapshot's `status`
/// (target, account, status) and `drift` (target, account, kind).
#[derive(Clone, Default)]
pub struct Triples {
    strings: Interner,
    items: Vec<[Sym; 3]>,
}

impl Triples {
    pub fn push(&mut self, (a, b, c): (impl AsRef<str>, impl AsRef<str>, impl AsRef<str>)) {
        let item = [a.as_ref(), b.as_ref(), c.as_ref()].map(|s| self.strings.get(s));
        self.items.push(item);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &str)> + '_ {
        (self.items.iter()).map(|[a, b, c]| (&**a, &**b, &**c))
    }
}

by_entries!(Triples, debug_list);
from_entries!(Triples, Triples);

impl Serialize for Triples {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_list(s, self.items.len(), self.iter())
    }
}

impl<'de> Deserialize<'de> for Triples {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(ListOf::<Triples>(std::marker::PhantomData))
    }
}

impl Collect for Triples {
    type Out = Triples;
    fn add(&mut self, t: &str, a: &str, c: &str) {
        self.push((t, a, c));
    }
    fn build(mut self) -> Triples {
        self.items.shrink_to_fit();
        self
    }
}

/// A list of [string, string, string] as JSON has it, from entries in order.
fn write_list<'a, S: Serializer>(
    s: S,
    len: usize,
    items: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(len))?;
    for t in items {
        seq.serialize_element(&t)?;
    }
    seq.end()
}

/// What a list of [string, string, string] is read into, entry by entry: each entry's strings
/// are interned as they are read and dropped, so no entry keeps strings of its own.
trait Collect: Default {
    type Out;
    fn add(&mut self, t: &str, a: &str, c: &str);
    fn build(self) -> Self::Out;
}

struct ListOf<C>(std::marker::PhantomData<C>);

impl<'de, C: Collect> Visitor<'de> for ListOf<C> {
    type Value = C::Out;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of [string, string, string]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<C::Out, A::Error> {
        let mut out = C::default();
        while let Some((t, a, c)) = seq.next_element::<(Text<'de>, Text<'de>, Text<'de>)>()? {
            out.add(t.as_ref(), a.as_ref(), c.as_ref());
        }
        Ok(out.build())
    }
}

/// A string as the decoder has it: borrowed from the input when it can be, copied otherwise
/// (one with escapes).
struct Text<'a>(std::borrow::Cow<'a, str>);

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(v.to_owned().into()))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(v.into()))
            }
        }
        d.deserialize_str(V)
    }
}

/// Rebuilds `map` with its nodes full. Entries inserted one at a time in key order (as a
/// pass records them) leave each node about half full; appended into a map of one entry, they
/// are merged in one sorted pass that builds full nodes and frees the old ones as it goes.
fn pack<K: Ord, V>(map: &mut BTreeMap<K, V>) {
    let Some(first) = map.pop_first() else {
        return;
    };
    let mut packed = BTreeMap::from([first]);
    packed.append(map);
    *map = packed;
}

/// Entries added one at a time past which a map is packed: a pass that added fewer leaves it
/// as it is (rebuilding 160,000 entries for a handful would cost more than it saves).
const PACK_AFTER: usize = 1024;

/// Each target's members' last recorded status: target → account → status.
#[derive(Clone, Default)]
pub struct Statuses {
    strings: Interner,
    by_target: BTreeMap<Sym, BTreeMap<Sym, Sym>>,
    /// Members added one at a time since the maps were built or packed.
    added: usize,
}

impl Statuses {
    /// Packs the maps' nodes full (see `pack`) once many members were added.
    pub fn pack(&mut self) {
        if self.added >= PACK_AFTER {
            self.by_target.values_mut().for_each(pack);
            self.added = 0;
        }
    }

    pub fn insert(&mut self, target: &str, account: &str, status: &str) {
        let status = self.strings.get(status);
        let members = match self.by_target.get_mut(target) {
            Some(m) => m,
            None => {
                let target = self.strings.get(target);
                self.by_target.entry(target).or_default()
            }
        };
        match members.get_mut(account) {
            Some(old) => *old = status,
            None => {
                members.insert(self.strings.get(account), status);
                self.added += 1;
            }
        }
    }

    pub fn remove(&mut self, target: &str, account: &str) {
        let Some(members) = self.by_target.get_mut(target) else {
            return;
        };
        members.remove(account);
        if members.is_empty() {
            self.by_target.remove(target);
        }
    }

    pub fn get(&self, target: &str, account: &str) -> Option<&str> {
        self.by_target.get(target)?.get(account).map(|s| &**s)
    }

    /// One target's members and their statuses, in account order.
    pub fn of_target<'a>(&'a self, target: &str) -> impl Iterator<Item = (&'a str, &'a str)> {
        (self.by_target.get(target).into_iter()).flat_map(|m| m.iter().map(|(a, s)| (&**a, &**s)))
    }

    /// Every (target, account, status), in target then account order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &str)> + '_ {
        (self.by_target.iter()).flat_map(|(t, m)| m.iter().map(move |(a, s)| (&**t, &**a, &**s)))
    }

    /// Members recorded, every target's (a sum over the targets, not the members).
    pub fn len(&self) -> usize {
        self.by_target.values().map(BTreeMap::len).sum()
    }

    /// How many targets have members recorded.
    pub fn targets(&self) -> usize {
        self.by_target.len()
    }

    /// Adds one target's members (a later entry for the same account wins).
    fn extend_target(&mut self, run: Option<(Sym, Vec<(Sym, Sym)>)>) {
        let Some((target, members)) = run else {
            return;
        };
        match self.by_target.get_mut(&target) {
            // The list named this target before (it was not in order): one at a time.
            Some(known) => {
                known.extend(members);
            }
            None => {
                self.by_target.insert(target, members.into_iter().collect());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_target.is_empty()
    }
}

impl Serialize for Statuses {
    /// As the snapshot has always held it: a list of [target, account, status].
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_list(s, self.len(), self.iter())
    }
}

impl<'de> Deserialize<'de> for Statuses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(ListOf::<StatusRuns>(std::marker::PhantomData))
    }
}

/// Statuses read from the list straight into the maps: each target's run of entries (a
/// snapshot lists them in order) is built into its map at once, which packs its nodes full.
#[derive(Default)]
struct StatusRuns {
    out: Statuses,
    run: Option<(Sym, Vec<(Sym, Sym)>)>,
}

impl Collect for StatusRuns {
    type Out = Statuses;
    fn add(&mut self, t: &str, a: &str, st: &str) {
        if self.run.as_ref().is_some_and(|(target, _)| **target != *t) {
            self.out.extend_target(self.run.take());
        }
        let strings = &mut self.out.strings;
        let (_, members) = (self.run).get_or_insert_with(|| (strings.get(t), Vec::new()));
        members.push((strings.get(a), strings.get(st)));
    }
    fn build(mut self) -> Statuses {
        self.out.extend_target(self.run);
        self.out
    }
}

by_entries!(Statuses, debug_list);

/// By entries, as equality: what a snapshot's fingerprint takes of its statuses.
impl std::hash::Hash for Statuses {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.len().hash(h);
        self.iter().for_each(|t| t.hash(h));
    }
}
from_entries!(Statuses, StatusRuns);

/// Open drift: (target, account, kind) → when it was first observed (Unix milliseconds).
#[derive(Clone, Default)]
pub struct Drifts {
    strings: Interner,
    map: BTreeMap<[Sym; 3], u64>,
    /// Entries added one at a time since the map was built or packed.
    added: usize,
}

impl Drifts {
    /// Packs the map's nodes full (see `pack`) once many entries were added.
    pub fn pack(&mut self) {
        if self.added >= PACK_AFTER {
            pack(&mut self.map);
            self.added = 0;
        }
    }

    /// Records `key` first observed at `since`, unless it is already open.
    pub fn observe(&mut self, (t, a, k): (&str, &str, &str), since: u64) -> u64 {
        let key = [t, a, k].map(|s| self.strings.get(s));
        match self.map.entry(key) {
            Entry::Occupied(o) => *o.get(),
            Entry::Vacant(v) => {
                self.added += 1;
                *v.insert(since)
            }
        }
    }

    pub fn insert(&mut self, (t, a, k): (&str, &str, &str), since: u64) {
        let key = [t, a, k].map(|s| self.strings.get(s));
        if self.map.insert(key, since).is_none() {
            self.added += 1;
        }
    }

    /// The shared form of `key` if every part of it is known (no new strings are made).
    fn key(&self, (t, a, k): (&str, &str, &str)) -> Option<[Sym; 3]> {
        Some([
            self.strings.find(t)?,
            self.strings.find(a)?,
            self.strings.find(k)?,
        ])
    }

    pub fn get(&self, key: (&str, &str, &str)) -> Option<u64> {
        self.map.get(&self.key(key)?).copied()
    }

    pub fn remove(&mut self, key: (&str, &str, &str)) {
        if let Some(k) = self.key(key) {
            self.map.remove(&k);
        }
    }

    /// Every piece of drift and when it was first observed, in key order.
    pub fn iter(&self) -> impl Iterator<Item = ((&str, &str, &str), u64)> + '_ {
        (self.map.iter()).map(|([t, a, k], since)| ((&**t, &**a, &**k), *since))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The snapshot's `drift` list, written straight from the map: (target, account, kind).
    pub fn keys(&self) -> impl Serialize + '_ {
        struct Keys<'a>(&'a Drifts);
        impl Serialize for Keys<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                write_list(s, self.0.len(), self.0.iter().map(|(k, _)| k))
            }
        }
        Keys(self)
    }

    /// The snapshot's `drift_since_ms` list, in the order of `keys`.
    pub fn since(&self) -> impl Serialize + '_ {
        struct Since<'a>(&'a Drifts);
        impl Serialize for Since<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.map.values())
            }
        }
        Since(self)
    }

    /// A hash of the keys alone (what a snapshot's fingerprint takes of its drift).
    pub fn hash_keys<H: std::hash::Hasher>(&self, h: &mut H) {
        use std::hash::Hash;
        self.len().hash(h);
        self.iter().for_each(|(k, _)| k.hash(h));
    }

    /// From the snapshot's two lists; a key without a time gets `otherwise` (a snapshot
    /// written before drift was timed).
    pub fn from_triples(keys: Triples, since: &[u64], otherwise: u64) -> Drifts {
        let Triples { strings, items } = keys;
        let map = (items.into_iter().enumerate())
            .map(|(i, k)| (k, since.get(i).copied().unwrap_or(otherwise)))
            .collect();
        Drifts {
            strings,
            map,
            added: 0,
        }
    }
}

by_entries!(Drifts, debug_map);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_read_and_write_the_list_of_arrays_they_replaced() {
        let old: Vec<(String, String, String)> = vec![
            ("g".into(), "300000000001".into(), "ENABLED".into()),
            ("g".into(), "300000000002".into(), "ENABLED".into()),
            ("h\"q".into(), "300000000001".into(), "INVITED".into()),
        ];
        let json = serde_json::to_string(&old).unwrap();
        let t: Triples = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), json);
        assert_eq!(t, Triples::from(old.clone()));
        // Every distinct string once: g, h"q, two accounts, two statuses.
        assert_eq!(t.strings.len(), 6);
        assert!(std::sync::Arc::ptr_eq(&t.items[0][0], &t.items[1][0]));
        let bad = serde_json::from_str::<Triples>("[[\"g\", \"a\"]]").unwrap_err();
        assert!(bad.to_string().contains("invalid length 2"), "{bad}");
    }

    #[test]
    fn statuses_count_members_and_round_trip_through_triples() {
        let mut s = Statuses::default();
        s.insert("g", "1", "INVITED");
        s.insert("g", "1", "ENABLED");
        s.insert("g", "2", "ENABLED");
        s.insert("h", "1", "ENABLED");
        assert_eq!(s.len(), 3);
        assert_eq!(s.get("g", "1"), Some("ENABLED"));
        assert_eq!(
            s.of_target("g").collect::<Vec<_>>(),
            [("1", "ENABLED"), ("2", "ENABLED")]
        );
        s.remove("h", "1");
        s.remove("h", "9");
        assert_eq!(s.len(), 2);
        assert_eq!(s.of_target("h").count(), 0);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"[["g","1","ENABLED"],["g","2","ENABLED"]]"#);
        let back: Statuses = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.len(), 2);
        // Out of order, and a member listed twice: the later entry wins, counted once.
        let back: Statuses =
            serde_json::from_str(r#"[["h","1","A"],["g","1","B"],["h","1","C"],["h","0","D"]]"#)
                .unwrap();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            [("g", "1", "B"), ("h", "0", "D"), ("h", "1", "C")]
        );
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn drift_keeps_its_first_time_and_finds_keys_without_growing() {
        let mut d = Drifts::default();
        assert_eq!(d.observe(("g", "1", "missing"), 5), 5);
        assert_eq!(d.observe(("g", "1", "missing"), 9), 5);
        assert_eq!(d.get(("g", "1", "missing")), Some(5));
        assert_eq!(d.get(("g", "2", "missing")), None);
        assert_eq!(d.strings.len(), 3, "a lookup makes no string");
        // As a snapshot writes and reads it: the two lists.
        let keys: Triples =
            serde_json::from_str(&serde_json::to_string(&d.keys()).unwrap()).unwrap();
        let since: Vec<u64> =
            serde_json::from_str(&serde_json::to_string(&d.since()).unwrap()).unwrap();
        assert_eq!(Drifts::from_triples(keys.clone(), &since, 0), d);
        assert_eq!(
            Drifts::from_triples(keys, &[], 7).get(("g", "1", "missing")),
            Some(7)
        );
        d.remove(("g", "1", "missing"));
        assert!(d.is_empty());
    }

    #[test]
    fn packing_keeps_every_entry() {
        let mut s = Statuses::default();
        let mut d = Drifts::default();
        for i in 0..3000 {
            let a = format!("{:012}", 300_000_000_000u64 + i);
            s.insert(["g", "h"][i as usize % 2], &a, "ENABLED");
            d.insert(("g", &a, "missing"), i);
        }
        let (s0, d0) = (s.clone(), d.clone());
        assert_eq!((s.added, d.added), (3000, 3000));
        s.pack();
        d.pack();
        assert_eq!((s.added, d.added), (0, 0), "packed");
        assert_eq!((s, d), (s0, d0));
        // A few more are left as they are.
        let mut few = Drifts::default();
        few.insert(("g", "1", "missing"), 1);
        few.pack();
        assert_eq!(few.added, 1);
        let mut empty = Drifts::default();
        empty.pack();
        assert!(empty.is_empty());
    }
}

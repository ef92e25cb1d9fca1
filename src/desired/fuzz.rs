//! Mutated desired-state files through `load` (read and validate), as `cargo fuzz` would feed
//! them but seeded (a fixed RNG seed) and bounded: byte flips, truncation, inserted YAML syntax (aliases, merge
//! keys, tags, directives, flow brackets), deep nesting, a BOM, tabs and bytes that are not
//! UTF-8, on top of the example files muster ships. Every input must end in `Ok` or located
//! problems; none may panic. `tests/run-all` runs it with its case count (`PROPTEST_CASES`);
//! the default keeps it within seconds.

use super::*;
use proptest::prelude::*;

/// The example files muster ships, and one of each section: where the mutations start.
const SEEDS: [&str; 6] = [
    include_str!("../../config/accounts.example.yaml"),
    include_str!("../../config/organization.example.yaml"),
    include_str!("../../config/member.example.yaml"),
    include_str!("../../config/central.example.yaml"),
    "version: 1\naccounts:\n  - {id: \"222222222222\", email: a@example.com, name: a}\ndetective:\n  graphs: [{region: us-east-1}, {arn: \"arn:aws:detective:eu-west-1:111111111111:graph:0123456789abcdef0123456789abcdef\"}]\n  prune: true\nsecurityhub:\n  regions: [us-east-1]\n",
    "version: 1\nbase: &b {email: a@example.com}\naccounts:\n  - <<: *b\n    id: \"222222222222\"\ndetective: {graphs: [{region: us-east-1}]}\n",
];

/// Bits of YAML syntax a mutation inserts.
const SNIPPETS: [&str; 30] = [
    "{",
    "}",
    "[",
    "]",
    ": ",
    "- ",
    "&a ",
    "*a",
    "<<: *a\n",
    "? ",
    "!!binary ",
    "!!str ",
    "%YAML 1.2\n---\n",
    "---\n",
    "...\n",
    "\"",
    "'",
    "|\n",
    ">-\n",
    "~",
    "null",
    "0x1f",
    "1e400",
    "-0",
    "#",
    "\t",
    "\u{feff}",
    "\r\n",
    "\\u0000",
    "\u{0}",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Truncate { at: usize },
    Insert { at: usize, snippet: usize },
    InsertBytes { at: usize, bytes: Vec<u8> },
    Nest { depth: usize, flow: bool },
    Bom,
    Tabs,
    Duplicate { from: usize, len: usize, to: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 0..SNIPPETS.len())
            .prop_map(|(at, snippet)| Mutation::Insert { at, snippet }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::InsertBytes { at, bytes }),
        (1usize..200_000, any::<bool>()).prop_map(|(depth, flow)| Mutation::Nest { depth, flow }),
        Just(Mutation::Bom),
        Just(Mutation::Tabs),
        (any::<usize>(), 1usize..200, any::<usize>())
            .prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
    ]
}

fn apply(text: &mut Vec<u8>, m: &Mutation) {
    let at = |i: usize, text: &Vec<u8>| {
        if text.is_empty() {
            0
        } else {
            i % (text.len() + 1)
        }
    };
    match m {
        Mutation::Flip { at: i, bit } => {
            if !text.is_empty() {
                let i = i % text.len();
                text[i] ^= 1 << bit;
            }
        }
        Mutation::Truncate { at: i } => {
            let i = at(*i, text);
            text.truncate(i);
        }
        Mutation::Insert { at: i, snippet } => {
            let i = at(*i, text);
            text.splice(i..i, SNIPPETS[*snippet].bytes());
        }
        Mutation::InsertBytes { at: i, bytes } => {
            let i = at(*i, text);
            text.splice(i..i, bytes.iter().copied());
        }
        Mutation::Nest { depth, flow } => {
            let (open, close) = if *flow { ("[", "]") } else { ("- ", "") };
            let mut nested = open.repeat(*depth).into_bytes();
            nested.extend_from_slice(b"1");
            nested.extend(close.repeat(*depth).bytes());
            text.extend_from_slice(b"\nnested: ");
            text.extend(nested);
            text.push(b'\n');
        }
        Mutation::Bom => text.splice(0..0, "\u{feff}".bytes()).for_each(drop),
        Mutation::Tabs => {
            for b in text.iter_mut().filter(|b| **b == b' ').step_by(3) {
                *b = b'\t';
            }
        }
        Mutation::Duplicate { from, len, to } => {
            if !text.is_empty() {
                let from = from % text.len();
                let end = (from + len).min(text.len());
                let piece: Vec<u8> = text[from..end].to_vec();
                let to = at(*to, text);
                text.splice(to..to, piece);
            }
        }
    }
}

/// Reads `bytes` as a desired-state file through `load`; panics become a failure with the input.
fn load_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (_, file) = crate::input::scratch_file("muster-fuzz", "desired.yaml", bytes);
    let r = std::panic::catch_unwind(|| load(&file).map(|_| ()));
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(invalid)) => {
            // Every problem names the file.
            prop_assert!(invalid
                .0
                .iter()
                .all(|p| p.file == file.display().to_string()));
            prop_assert!(!invalid.0.is_empty());
            Ok(())
        }
        Err(_) => Err(TestCaseError::fail(format!(
            "load panicked on {:?}",
            String::from_utf8_lossy(bytes)
        ))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        max_shrink_iters: 2000,
        // Seeded: every run tries the same inputs (more with `PROPTEST_CASES`).
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d75_7374),
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_mutated_desired_state_panics_the_loader(
        seed in 0..SEEDS.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut text = SEEDS[seed].as_bytes().to_vec();
        for m in &mutations {
            apply(&mut text, m);
        }
        load_bytes(&text)?;
    }
}

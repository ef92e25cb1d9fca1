//! Reading the desired state: a file or a directory of `*.yaml` files, bounded, every problem
//! in every file collected, and the digest of what was read.

use super::*;

/// Reads and checks the desired state at `path`: a file, or a directory whose `*.yaml` and
/// `*.yml` files are merged.
pub fn load(path: &Path) -> Result<DesiredState, Invalid> {
    let shown = path.display().to_string();
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                // Anything but a directory is read, so that a FIFO or device named *.yaml is
                // reported rather than skipped.
                .filter(|p| {
                    !p.is_dir()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect(),
            Err(e) => {
                return Err(Invalid(vec![problem(
                    &shown,
                    None,
                    format!("cannot read the directory: {e}"),
                )]))
            }
        };
        files.sort();
        if files.is_empty() {
            return Err(Invalid(vec![problem(
                &shown,
                None,
                "the directory has no *.yaml files; an empty desired state is never assumed".into(),
            )]));
        }
        files
    } else {
        vec![path.to_owned()]
    };
    let mut texts = Vec::new();
    let mut problems = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        match read(f) {
            Ok(text) => texts.push((name, text)),
            Err(message) => problems.push(problem(&name, None, message)),
        }
    }
    let parsed = parse_files(&texts);
    match parsed {
        Ok(mut state) if problems.is_empty() => {
            state.files = files;
            state.revision = crate::revision::revision_of(path);
            Ok(state)
        }
        Ok(_) => Err(Invalid(problems)),
        Err(Invalid(more)) => {
            problems.extend(more);
            Err(Invalid(problems))
        }
    }
}

pub(super) fn read(path: &Path) -> Result<String, String> {
    let bytes = crate::input::read_regular(path, MAX_FILE_BYTES).map_err(|e| match e {
        crate::input::ReadError::TooLarge { .. } => {
            format!("{e} (split the accounts over several files in a directory)")
        }
        other => other.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

pub(super) fn problem(file: &str, pos: Option<Pos>, message: String) -> Problem {
    Problem {
        file: file.to_owned(),
        pos,
        message,
    }
}

/// Checks file texts (name, content) as one desired state.
pub fn parse_files(files: &[(String, String)]) -> Result<DesiredState, Invalid> {
    let mut c = Checker::default();
    let mut hasher = Sha256::new();
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, text) in sorted {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
        c.file = name.clone();
        c.check_file(text);
    }
    c.check_whole();
    if c.problems.is_empty() {
        Ok(DesiredState {
            accounts: c.accounts,
            detective: c.detective.map(|(d, _)| d).unwrap_or_default(),
            hubs: c.hubs.into_iter().map(|(k, (s, _))| (k, s)).collect(),
            organization: c.organization,
            delegated_administrator: c.delegated_administrator,
            member: c.member.map(|(m, _)| m),
            digest: format!("{:x}", hasher.finalize()),
            revision: None,
            files: Vec::new(),
        })
    } else {
        // Files were read in name order; within a file, report top to bottom.
        c.problems
            .sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
        Err(Invalid(c.problems))
    }
}

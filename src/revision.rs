//! The git commit a desired state was read from, without running `git`: the work tree that
//! holds the path (symlinks followed, so a git-sync `worktrees/<sha>` swap names its commit),
//! its `.git` (a directory, or a file `gitdir: ...` as linked work trees have), `HEAD` (a
//! detached commit, or `ref: refs/...`), and the ref as a loose file or in `packed-refs` (in
//! the work tree's git directory or its common directory). Anything else (no repository, an
//! unreadable or odd file) is no revision: never an error.

use std::path::{Path, PathBuf};

/// The most bytes read of any git file: HEAD and loose refs are one line; packed refs of a
/// large repository fit.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The commit checked out in the work tree holding `path`, as 40 (SHA-1) or 64 (SHA-256) hex
/// digits; `None` when there is none.
pub fn revision_of(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let start = if path.is_dir() {
        path.as_path()
    } else {
        path.parent()?
    };
    let git_dir = start.ancestors().find_map(git_dir_of)?;
    let head = read(&git_dir.join("HEAD"))?;
    let head = head.trim();
    match head.strip_prefix("ref:") {
        None => commit(head),
        Some(name) => resolve(&git_dir, name.trim()),
    }
}

/// The git directory of a work tree's root `dir`, if it is one.
fn git_dir_of(dir: &Path) -> Option<PathBuf> {
    let dot = dir.join(".git");
    if dot.is_dir() {
        return Some(dot);
    }
    let text = read(&dot)?;
    let target = text.trim().strip_prefix("gitdir:")?.trim();
    Some(dir.join(target))
}

/// A ref's commit: its loose file, else its line in `packed-refs`; both looked up in the git
/// directory and then in its common directory (a linked work tree's `commondir`).
fn resolve(git_dir: &Path, name: &str) -> Option<String> {
    if !name.starts_with("refs/") || name.split('/').any(|part| part == "..") {
        return None;
    }
    let common = read(&git_dir.join("commondir")).map(|c| git_dir.join(c.trim()));
    let dirs = std::iter::once(git_dir.to_owned()).chain(common);
    for dir in dirs {
        if let Some(loose) = read(&dir.join(name)) {
            return commit(loose.trim());
        }
        let packed = read(&dir.join("packed-refs")).unwrap_or_default();
        let found = packed
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('^'))
            .find_map(|l| l.split_once(' ').filter(|(_, r)| *r == name));
        if let Some((sha, _)) = found {
            return commit(sha);
        }
    }
    None
}

fn commit(s: &str) -> Option<String> {
    let hex = s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && matches!(s.len(), 40 | 64)).then(|| s.to_ascii_lowercase())
}

fn read(path: &Path) -> Option<String> {
    let bytes = crate::input::read_regular(path, MAX_BYTES).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::revision_of;
    use std::fs;
    use std::path::{Path, PathBuf};

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("muster-rev-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn a_clone_names_its_branch_commit_loose_or_packed() {
        let repo = scratch("clone");
        write(&repo.join(".git/HEAD"), "ref: refs/heads/main\n");
        write(&repo.join("desired/accounts.yaml"), "version: 1\n");
        let file = repo.join("desired/accounts.yaml");
        write(
            &repo.join(".git/packed-refs"),
            &format!("# pack-refs with: peeled fully-peeled sorted\n{B} refs/heads/other\n{A} refs/heads/main\n^{B}\n"),
        );
        assert_eq!(revision_of(&file).as_deref(), Some(A), "packed");
        write(&repo.join(".git/refs/heads/main"), &format!("{B}\n"));
        assert_eq!(revision_of(&file).as_deref(), Some(B), "a loose ref wins");
        assert_eq!(
            revision_of(&repo.join("desired")).as_deref(),
            Some(B),
            "a directory"
        );
        let _ = fs::remove_dir_all(&repo);
    }

    #[test]
    fn a_detached_head_and_a_linked_work_tree_behind_a_symlink() {
        let root = scratch("worktree");
        // git-sync: the repository, a linked work tree per commit, a link swapped to the newest.
        write(&root.join("repo/.git/HEAD"), "ref: refs/heads/main\n");
        write(
            &root.join("repo/.git/worktrees/a/HEAD"),
            &format!("{}\n", A.to_uppercase()),
        );
        write(&root.join("repo/.git/worktrees/a/commondir"), "../..\n");
        write(
            &root.join("worktrees/a/.git"),
            &format!("gitdir: {}\n", root.join("repo/.git/worktrees/a").display()),
        );
        write(&root.join("worktrees/a/accounts.yaml"), "version: 1\n");
        std::os::unix::fs::symlink(root.join("worktrees/a"), root.join("current")).unwrap();
        let file = root.join("current/accounts.yaml");
        assert_eq!(revision_of(&file).as_deref(), Some(A));
    }

    #[test]
    fn no_repository_or_a_head_that_is_not_a_commit_is_no_revision() {
        let dir = scratch("none");
        write(&dir.join("accounts.yaml"), "version: 1\n");
        // The temporary directory is not in a repository (if it were, this would name it).
        if revision_of(&std::env::temp_dir()).is_none() {
            assert_eq!(revision_of(&dir.join("accounts.yaml")), None);
        }
        write(
            &dir.join(".git/HEAD"),
            "ref: refs/heads/../../../etc/passwd\n",
        );
        assert_eq!(revision_of(&dir.join("accounts.yaml")), None);
        write(&dir.join(".git/HEAD"), "not a commit\n");
        assert_eq!(revision_of(&dir.join("accounts.yaml")), None);
        assert_eq!(revision_of(&dir.join("missing.yaml")), None);
        let _ = fs::remove_dir_all(&dir);
    }
}

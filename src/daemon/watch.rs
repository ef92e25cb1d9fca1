//! Watching the desired state for changes: every path met on the way to it (symlinks followed,
//! as ConfigMap `..data` and git-sync `current` swaps need), watched where changes happen,
//! debounced into one trigger.

use super::*;

/// Quiet time after a file event before the desired state is re-read: editors and
/// `kubectl`/git-sync swaps write in several steps.
pub(super) const DEBOUNCE: Duration = Duration::from_millis(200);

/// A burst of events longer than this still triggers a reload.
pub(super) const DEBOUNCE_MAX: Duration = Duration::from_millis(1000);

/// Every path met while resolving `path` with symlinks followed (the path, each link on the
/// way, what they point to), the links among them, and where it ends up.
pub(super) fn resolve(path: &Path) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>, PathBuf) {
    use std::ffi::OsString;
    use std::path::Component;
    enum Part {
        Root,
        Up,
        Name(OsString),
    }
    fn parts(p: &Path) -> Vec<Part> {
        p.components()
            .filter_map(|c| match c {
                Component::RootDir | Component::Prefix(_) => Some(Part::Root),
                Component::ParentDir => Some(Part::Up),
                Component::CurDir => None,
                Component::Normal(n) => Some(Part::Name(n.to_os_string())),
            })
            .collect()
    }
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let (mut chain, mut links) = (BTreeSet::new(), BTreeSet::new());
    let mut todo = parts(&abs);
    todo.reverse(); // a stack: next part last
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part {
            Part::Root => cur = PathBuf::from("/"),
            Part::Up => {
                cur.pop();
            }
            Part::Name(name) => {
                let next = cur.join(name);
                chain.insert(next.clone());
                match std::fs::read_link(&next) {
                    Ok(target) if hops < 40 => {
                        hops += 1;
                        links.insert(next);
                        todo.extend(parts(&target).into_iter().rev());
                    }
                    _ => cur = next,
                }
            }
        }
    }
    (chain, links, cur)
}

/// What to watch for `path`, and which changed paths matter.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WatchPlan {
    /// Directories to watch (not recursively): where the file is, where it resolves to, and
    /// where each symlink on the way lives (a Kubernetes ConfigMap swaps `..data`, git-sync
    /// swaps its `current` link).
    pub dirs: BTreeSet<PathBuf>,
    /// Paths whose change can change what muster reads.
    pub relevant: BTreeSet<PathBuf>,
    /// Set when the desired state is a directory: its *.yaml / *.yml files matter too.
    pub dir: Option<PathBuf>,
}

impl WatchPlan {
    pub fn of(path: &Path) -> WatchPlan {
        let (relevant, links, end) = resolve(path);
        let mut dirs = BTreeSet::new();
        for p in links.iter().chain([&end]) {
            if let Some(parent) = p.parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
        let dir = end.is_dir().then(|| end.clone());
        if let Some(d) = &dir {
            dirs.insert(d.clone());
        }
        dirs.retain(|d| d.is_dir());
        WatchPlan {
            dirs,
            relevant,
            dir,
        }
    }

    /// Whether a change to `changed` can change the desired state.
    pub fn matters(&self, changed: &Path) -> bool {
        self.relevant.contains(changed)
            || self.dir.as_deref().is_some_and(|d| {
                changed.parent() == Some(d)
                    && matches!(
                        changed.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml")
                    )
            })
    }
}

/// Watches the desired state; after a quiet `DEBOUNCE` fires `Reason::FileChanged`. The pass
/// loop re-reads the files and runs only if their digest changed.
pub(super) fn watch(
    path: &Path,
    triggers: Arc<Triggers>,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            // Opens and reads (muster's own among them) change nothing.
            Ok(e) if matches!(e.kind, EventKind::Access(_)) => {}
            Ok(e) => {
                let _ = tx.send(e.paths);
            }
            Err(e) => tracing::warn!(error = %e, "file watch error"),
        })
        .map_err(|e| DaemonError::Watch {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let target = path.to_owned();
    let mut plan = WatchPlan::default();
    let rewatch = move |watcher: &mut notify::RecommendedWatcher, plan: &mut WatchPlan| {
        let want = WatchPlan::of(&target);
        for gone in plan.dirs.difference(&want.dirs) {
            let _ = watcher.unwatch(gone);
        }
        for dir in want.dirs.difference(&plan.dirs) {
            if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory");
            }
        }
        *plan = want;
    };
    rewatch(&mut watcher, &mut plan);
    if plan.dirs.is_empty() {
        return Err(DaemonError::Watch {
            path: path.to_owned(),
            message: "no directory of it exists".into(),
        });
    }
    tracing::info!(dirs = ?plan.dirs, "watching the desired state");
    Ok(tokio::spawn(async move {
        while let Some(paths) = rx.recv().await {
            if !paths.iter().any(|p| plan.matters(p)) {
                continue;
            }
            let burst = Instant::now();
            while burst.elapsed() < DEBOUNCE_MAX {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            // Symlinks may have moved: follow them.
            rewatch(&mut watcher, &mut plan);
            tracing::debug!("desired state files changed");
            triggers.fire(Reason::FileChanged);
        }
    }))
}

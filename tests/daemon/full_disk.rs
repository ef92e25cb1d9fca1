//! `muster run` with its state directory on a tmpfs that fills up during a pass: the pass fails
//! (no AWS write without its intent on disk), `/readyz` says why with 503,
//! `muster_eventlog_write_failures_total` counts it, and once space is freed the daemon opens the
//! log again and converges at its next retry, without a restart; SIGTERM then exits 0.

use crate::common::*;
use crate::*;

const FAILURES: &str = "muster_eventlog_write_failures_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_state_disk_fails_the_pass_and_the_daemon_converges_once_space_is_back() {
    let sb = world(302, 12).await;
    slow(&sb, "detective", "CreateMembers", 300);
    let dir = scratch("full-disk");
    let Some(fs) = Tmpfs::mount(&dir.join("state"), 16 * 1024 * 1024) else {
        return;
    };
    let members = || graph_members(&sb, "us-east-1");
    std::fs::write(dir.join("accounts.yaml"), desired(2..52, false)).unwrap();
    let mut d = Daemon::watching(&sb, &dir, "accounts.yaml");
    eventually(LIMIT, "the first pass", || {
        (http_get(d.port, "/readyz")?.0 == 200).then_some(())
    })
    .await;
    assert_eq!(members(), 50);
    assert_eq!(sample(&d.metrics().unwrap(), FAILURES), Some(0.0));

    // 250 more accounts: five batches. The disk fills once the first is in flight.
    let before = sb.calls().count("detective", "CreateMembers");
    std::fs::write(dir.join("accounts.yaml"), desired(2..302, false)).unwrap();
    eventually(LIMIT, "the next pass's first CreateMembers", || {
        (sb.calls().count("detective", "CreateMembers") > before).then_some(())
    })
    .await;
    fs.fill();
    d.wait_for(FAILURES, 1.0, LIMIT).await;
    let (status, body) = http_get(d.port, "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("not ready: the event log cannot be written (cannot use the event log ")
            && body.contains("No space left on device")
            && body.ends_with("); nothing is sent to AWS until it can\n"),
        "{body}"
    );
    assert!(
        members() < 300,
        "the pass stopped when the log could not be written"
    );

    // Space is back: the next retry (5 s after the first failure) opens the log again and
    // converges. A retry already running when the space came back may fail once more.
    let failed = sample(&d.metrics().unwrap(), FAILURES).unwrap();
    fs.free();
    eventually(LIMIT, "convergence after the disk was freed", || {
        (members() == 300).then_some(())
    })
    .await;
    eventually(LIMIT, "ready again", || {
        (http_get(d.port, "/readyz")?.0 == 200).then_some(())
    })
    .await;
    let after = sample(&d.metrics().unwrap(), FAILURES).unwrap();
    assert!(
        after <= failed + 1.0,
        "failures went on after the disk was freed: {failed} -> {after}\n{}",
        d.log()
    );
    let status = d.terminate().await;
    assert!(status.success(), "exit {status:?}\n{}", d.log());
    let ev = events(&dir);
    let last = ev.last().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["outcome"].as_str()),
        (Some("pass_finished"), Some("ok")),
        "{ev:?}"
    );
    drop(fs);
}

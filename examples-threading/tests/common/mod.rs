//! Running a program with no thread to spare: `prlimit --nproc` as an
//! unprivileged user (root ignores the process limit).

use lesson::testing::{Command, output};
use std::time::Duration;

/// Runs `bin args` under `prlimit --nproc=1` (as `nobody` via `setpriv`
/// when the tests run as root) and asserts it said in one line that the
/// system refused a thread, with exit 71, and did not hang. Returns that
/// line, or `None` (printing why) when no unprivileged run can be made.
pub fn assert_no_threads(bin: &str, args: &[&str]) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let tool = |name: &str| {
        ["/usr/bin/", "/bin/"]
            .iter()
            .map(|dir| format!("{dir}{name}"))
            .find(|p| std::path::Path::new(p).exists())
    };
    let (Some(prlimit), setpriv) = (tool("prlimit"), tool("setpriv")) else {
        println!("skipped: no prlimit on this machine");
        return None;
    };
    let mut cmd = match (root, setpriv) {
        (false, _) => Command::new(&prlimit),
        (true, Some(setpriv)) => {
            let mut c = Command::new(setpriv);
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", &prlimit]);
            c
        }
        (true, None) => {
            println!("skipped: running as root without setpriv; root ignores --nproc");
            return None;
        }
    };
    // One process, no thread more: `nobody` may have others running too,
    // which only makes the limit tighter.
    cmd.arg("--nproc=1")
        .arg(bin)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .timeout(Duration::from_secs(60));
    let (code, stdout, stderr) = output(&mut cmd);
    if code == 126 || stderr.contains("Permission denied") {
        println!("skipped: {bin} cannot be run as nobody here: {stderr}");
        return None;
    }
    assert_eq!(code, lesson::SYSTEM, "{bin}: {stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{bin}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("Resource temporarily unavailable"),
        "{bin}: {stderr}"
    );
    Some(stderr)
}

//! Both programs with stdout on `/dev/full`: one line, exit 74, and none of
//! their processes (the cluster members they start) left behind.

use std::time::Duration;

use lesson::testing::{assert_output_error, processes_of, wait_gone};

const PRIMES: &str = env!("CARGO_BIN_EXE_dataflow-primes");
const EXCHANGE: &str = env!("CARGO_BIN_EXE_dataflow-exchange");

#[test]
fn a_full_stdout_is_one_line_exit_74_and_leaves_no_process() {
    let small = [
        "--small-count",
        "2000",
        "--large-count",
        "40",
        "--rounds",
        "50",
    ];
    for (bin, args) in [(PRIMES, &["--limit", "10000"][..]), (EXCHANGE, &small[..])] {
        let line = assert_output_error(bin, args, 180);
        assert!(line.contains("No space left on device"), "{bin}: {line}");
        let left = wait_gone(Duration::from_secs(10), || processes_of(bin));
        assert!(left.is_empty(), "{bin} left processes {left:?}");
    }
}

//! Runs every program of examples-python with a time limit.
use lesson::testing::run;

#[test]
fn release_the_gil_counts_equal_answers_and_prints_its_figures() {
    let args = [
        "--limit",
        "200000",
        "--pure-limit",
        "20000",
        "--repeat",
        "1",
        "--attempts",
        "1",
    ];
    let (code, out, err) = run(env!("CARGO_BIN_EXE_release-the-gil"), &args, 120);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("answers: all equal the Rust count"), "{out}");
    for row in [
        "GIL held",
        "GIL released",
        "multiprocessing.Pool",
        "pure Python",
        "cores busy",
    ] {
        assert!(out.contains(row), "{row} missing:\n{out}");
    }
}

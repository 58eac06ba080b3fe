//! Workspace rules that no compiler checks: every program in any crate's
//! `src/bin` has a `//!` headline, a unique name, an integration test that
//! runs it, a row in the README with its `cargo run` command, and at most
//! [`HOUSE_LENGTH`] lines of code.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("lesson sits one level below the workspace root")
        .to_path_buf()
}

/// (crate directory, program name, source file) for every program.
fn programs() -> Vec<(PathBuf, String, PathBuf)> {
    let mut found = Vec::new();
    for krate in fs::read_dir(workspace_root()).unwrap().flatten() {
        let bin_dir = krate.path().join("src/bin");
        let Ok(entries) = fs::read_dir(&bin_dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let (name, source) = if path.is_dir() {
                (entry.file_name(), path.join("main.rs"))
            } else if path.extension().is_some_and(|e| e == "rs") {
                (path.file_stem().unwrap().to_owned(), path.clone())
            } else {
                continue;
            };
            found.push((krate.path(), name.to_string_lossy().into_owned(), source));
        }
    }
    found.sort();
    found
}

fn read_tests(krate: &Path) -> String {
    let mut text = String::new();
    let mut dirs = vec![krate.join("tests")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text += &fs::read_to_string(&path).unwrap();
            }
        }
    }
    text
}

#[test]
fn the_workspace_has_programs() {
    assert!(!programs().is_empty(), "no src/bin programs found");
}

#[test]
fn every_program_is_run_by_an_integration_test() {
    let missing: Vec<String> = programs()
        .into_iter()
        .filter(|(krate, name, _)| !read_tests(krate).contains(&format!("CARGO_BIN_EXE_{name}")))
        .map(|(krate, name, _)| format!("{}: {name}", krate.display()))
        .collect();
    assert!(
        missing.is_empty(),
        "programs no test runs (no CARGO_BIN_EXE_<name> in the crate's tests/): {missing:?}"
    );
}

#[test]
fn every_program_starts_with_a_headline() {
    let missing: Vec<String> = programs()
        .into_iter()
        .filter(|(_, _, source)| !fs::read_to_string(source).unwrap().starts_with("//!"))
        .map(|(_, _, source)| source.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "programs without a //! headline: {missing:?}"
    );
}

#[test]
fn program_names_are_unique_across_the_workspace() {
    let mut owners: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (krate, name, _) in programs() {
        owners.entry(name).or_default().push(krate);
    }
    let clashes: Vec<_> = owners.into_iter().filter(|(_, k)| k.len() > 1).collect();
    assert!(
        clashes.is_empty(),
        "program names used twice (they share target/): {clashes:?}"
    );
}

#[test]
fn every_program_has_its_command_in_the_readme() {
    let readme = fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let missing: Vec<String> = programs()
        .into_iter()
        .filter(|(krate, name, _)| {
            let package = krate.file_name().unwrap().to_string_lossy();
            !readme.contains(&format!("cargo run -p {package} --bin {name}"))
                && !readme.contains(&format!("cargo run --release -p {package} --bin {name}"))
        })
        .map(|(_, name, _)| name)
        .collect();
    assert!(
        missing.is_empty(),
        "programs missing from README.md: {missing:?}"
    );
}

/// The house length: a program's code fits on a screen and a half, so a
/// reader sees the whole lesson at once. Counted are the lines that do
/// something: not blank lines and not comments, so the `//!` headline (the
/// lesson's prose, often 15-20 lines with its Python counterpart and when
/// to use it) is never what a program is trimmed for. What grows past it
/// moves into the crate's modules, where it is documented and reusable.
const HOUSE_LENGTH: usize = 80;

fn code_lines(source: &str) -> usize {
    source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .count()
}

#[test]
fn code_lines_skip_comments_and_blanks() {
    assert_eq!(
        code_lines("//! head\n\nfn main() {\n    // why\n    run();\n}\n"),
        3
    );
}

#[test]
fn every_program_fits_the_house_length() {
    let long: Vec<String> = programs()
        .into_iter()
        .filter_map(|(_, _, source)| {
            let n = code_lines(&fs::read_to_string(&source).unwrap());
            (n > HOUSE_LENGTH).then(|| format!("{} ({n} lines)", source.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "programs over {HOUSE_LENGTH} lines of code (comments and blank lines not counted): {long:?}"
    );
}

//! Lets the programs find libpython at run time with no other step: PyO3
//! links `-lpython3.x` from the interpreter's LIBDIR (pyenv puts it in
//! `~/.pyenv/versions/3.x/lib`, which the loader does not search), so add
//! that directory as an rpath to every binary and test of this crate, and
//! hand it to dependents (`links = "tvp_python"` makes it their
//! `DEP_TVP_PYTHON_LIBDIR`) so they can do the same.

fn main() {
    let config = pyo3_build_config::get();
    if let Some(dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:libdir={dir}");
    }
    // Where the linked interpreter keeps its standard library, so a program
    // can say "no usable Python" instead of CPython aborting at start.
    let home = config
        .executable()
        .and_then(|exe| std::path::Path::new(exe).parent()?.parent())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=TVP_PYTHON_PREFIX={home}");
    let version = config.version();
    println!(
        "cargo:rustc-env=TVP_PYTHON_VERSION={}.{}",
        version.major, version.minor
    );
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}

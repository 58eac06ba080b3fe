//! `compare --python` runs Python threads in the CPython that
//! `examples-python` embeds: put libpython's directory (handed over by that
//! crate's build script, `links = "tvp_python"`) in this crate's rpath too,
//! so `cargo run -p benches --bin compare` needs no other step. It also
//! records the compiler's version, which a report names beside its commit.

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or("rustc (version unknown)".into(), |v| v.trim().to_string());
    println!("cargo:rustc-env=TVP_RUSTC_VERSION={version}");
    if let Ok(dir) = std::env::var("DEP_TVP_PYTHON_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}

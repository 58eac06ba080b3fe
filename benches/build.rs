//! `compare --python` runs Python threads in the CPython that
//! `examples-python` embeds: put libpython's directory (handed over by that
//! crate's build script, `links = "tvp_python"`) in this crate's rpath too,
//! so `cargo run -p benches --bin compare` needs no other step.

fn main() {
    if let Ok(dir) = std::env::var("DEP_TVP_PYTHON_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}

//! Starting the embedded CPython, once, with this crate's native module
//! registered, and ending a program in one line when Python raised.
//!
//! [`start`] first looks for the standard library the linked interpreter
//! will load (`$PYTHONHOME` or the prefix it was built with): without it
//! CPython aborts with a fatal error, so its absence is said in one line,
//! exit 2, instead. Then it registers [`crate::native::rust_primes`] as a
//! built-in module (`PyImport_AppendInittab`: `import rust_primes` works
//! in the embedded interpreter and in the `multiprocessing` workers it
//! forks) and initializes the interpreter.
//!
//! ```no_run
//! use pyo3::prelude::*;
//! examples_python::embed::start()?;
//! Python::attach(|py| py.run(c"import rust_primes; print(rust_primes.count_released(0, 100))", None, None))
//!     .map_err(examples_python::embed::raised)?;
//! # Ok::<(), lesson::Failure>(())
//! ```

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Once;

use lesson::Failure;
use pyo3::prelude::*;
use pyo3::types::PyModule;

/// The prefix of the interpreter PyO3 linked against (from build.rs).
pub const PREFIX: &str = env!("TVP_PYTHON_PREFIX");

/// Its `major.minor` version (from build.rs).
pub const VERSION: &str = env!("TVP_PYTHON_VERSION");

/// Where the embedded interpreter will look for its standard library.
pub fn stdlib_dir() -> PathBuf {
    let home = std::env::var("PYTHONHOME").unwrap_or_else(|_| PREFIX.to_string());
    let home = home.split(':').next().unwrap_or_default().to_string();
    PathBuf::from(home).join(format!("lib/python{VERSION}"))
}

/// Makes the embedded interpreter ready (once per process), or says in
/// one line (exit 2) that it has no standard library to start with.
pub fn start() -> Result<(), Failure> {
    let stdlib = stdlib_dir();
    if !stdlib.join("os.py").is_file() {
        return Err(Failure::usage(format_args!(
            "no usable Python: the embedded CPython {VERSION} finds no standard library in {} \
             (check PYTHONHOME)",
            stdlib.display()
        )));
    }
    static START: Once = Once::new();
    START.call_once(|| {
        pyo3::append_to_inittab!(rust_primes);
        Python::initialize();
    });
    Ok(())
}

use crate::native::rust_primes;

/// Loads Python source as a module named `name` (registered in
/// `sys.modules`, so `multiprocessing` can pickle its functions).
pub fn load<'py>(py: Python<'py>, name: &str, code: &str) -> PyResult<Bound<'py, PyModule>> {
    let text = |s: &str| {
        CString::new(s).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
    };
    let file = format!("{name}.py");
    PyModule::from_code(py, &text(code)?, &text(&file)?, &text(name)?)
}

/// A Python exception as the program's one line, exit 1: `Python raised
/// ValueError: ...`.
pub fn raised(err: PyErr) -> Failure {
    Failure::claim(format_args!("Python raised {err}"))
}

/// The embedded build, labelled as [`lesson::python::Build::label`] does.
pub fn build(py: Python<'_>) -> PyResult<lesson::python::Build> {
    let sys = py.import("sys")?;
    let sysconfig = py.import("sysconfig")?;
    let info = sys.getattr("version_info")?;
    let part = |i: usize| -> PyResult<u32> { info.get_item(i)?.extract() };
    let (major, minor, micro) = (part(0)?, part(1)?, part(2)?);
    let gil: Option<i64> = sysconfig
        .call_method1("get_config_var", ("Py_GIL_DISABLED",))?
        .extract()?;
    let line = format!("{major}.{minor}.{micro} {}", gil.unwrap_or(0));
    lesson::python::Build::parse(&line)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("odd version {line}")))
}

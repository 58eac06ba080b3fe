//! Names that say whose they are (`<prefix><pid>-<anything>`), and the
//! sweep that removes the ones whose owner has ended: the process
//! toolkit's [`process_toolkit::owned_name`], re-exported for this crate's
//! segments and temp files.

pub use process_toolkit::owned_name::{is_dead, owner, sweep};

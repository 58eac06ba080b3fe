//! Workloads shared by the criterion benches and `compare`, the
//! side-by-side table of threads against processes on this machine.

//! Forked ipc peers hold only their own descriptors: stdin, stdout, stderr
//! and their two ends (none for a ring peer), not the parent's ends nor
//! any other peer's, as `/proc/<pid>/fd` shows; and each runs where its
//! transport says (`Cpus_allowed_list` in `/proc/<pid>/status`): the second
//! CPU for a two-core one, the first for a one-core one. `harness = false`: it
//! forks, which a `#[test]` thread must not.
#![cfg(not(loom))]

use benches::ipc::{Pattern, Peer, Transport};
use examples_shared_memory::measure::{first_cpu, first_two_cpus};

fn fds_of(pid: u32) -> Vec<u32> {
    let mut fds: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the peer is alive")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

/// The CPUs `pid` may run on, as the kernel lists them ("1", "0-3").
fn cpus_of(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the peer is alive");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("a CPU list");
    line.trim().to_string()
}

/// Where a peer of `transport` must run, or `None` (unpinned, one CPU).
fn expected_cpu(transport: Transport) -> Option<usize> {
    match transport {
        Transport::PipeOneCore | Transport::RingOneCore => first_cpu().ok(),
        _ => first_two_cpus().expect("the CPU set").map(|[_, peer]| peer),
    }
}

fn main() {
    // Several peers at once, as `compare` has them: each later one was
    // forked while the earlier ones' descriptors were open in the parent.
    let mut peers = Vec::new();
    for transport in [
        Transport::Pipe,
        Transport::UnixSocket,
        Transport::Ring,
        Transport::PipeOneCore,
        Transport::RingOneCore,
    ] {
        for pattern in [Pattern::Stream, Pattern::RoundTrip] {
            for _ in 0..2 {
                let mut peer = Peer::start(transport, pattern, 64).expect("peer starts");
                assert_eq!(peer.run(3).expect("peer answers"), 3 * 64);
                peers.push((transport, peer));
            }
        }
    }
    for (transport, peer) in &peers {
        let pid = peer.pid().expect("a process peer");
        let own: Vec<u32> = fds_of(pid).into_iter().filter(|&fd| fd > 2).collect();
        let ring = matches!(transport, Transport::Ring | Transport::RingOneCore);
        let expected = if ring { 0 } else { 2 };
        assert_eq!(
            own.len(),
            expected,
            "{transport:?} peer {pid} holds {own:?}"
        );
    }
    for (transport, peer) in &peers {
        let pid = peer.pid().expect("a process peer");
        if let Some(cpu) = expected_cpu(*transport) {
            assert_eq!(cpus_of(pid), cpu.to_string(), "{transport:?} peer {pid}");
        }
    }
    drop(peers);
    println!("peer_fds: every forked peer holds only its own descriptors, on its CPU");
}

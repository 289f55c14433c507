//! `leadback-bridge`: every role (serve, ingress, worker) and every operator command in one binary.

/// mimalloc instead of glibc's malloc: per-thread free lists make the many small, short-lived
/// allocations of a request (headers, JSON, envelope) cheaper, where glibc's arenas showed as
/// ~14 % of the ingress's samples at saturation (docs/benchmarks.md), and it returns freed
/// memory to the system more readily.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    bridge_app::main()
}

//! `leadback-bridge`: every role (serve, ingress, worker) and every operator command in one binary.

/// mimalloc instead of glibc's malloc: per-thread free lists make the many small, short-lived
/// allocations of a request (headers, JSON, envelope) cheaper, where glibc's arenas showed as
/// ~14 % of the ingress's samples at saturation; +6–12 % webhooks/s for a higher but flat RSS
/// (docs/dependencies.md, docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bridge_app::main()
}

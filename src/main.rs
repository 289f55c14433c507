//! `leadback-bridge`: every role (serve, ingress, worker) and every operator command in one binary.

fn main() -> anyhow::Result<()> {
    bridge_app::main()
}

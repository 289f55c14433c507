//! (to be written)
pub fn main() -> anyhow::Result<()> { Ok(()) }

//! The `quyhoach` command: `serve` runs a node, `demo` runs the demonstration hierarchy, and
//! the other subcommands are clients of a running node (`--node ADDR`). Everything is in
//! [`cli`]; this file only wires it.

mod cli;

/// mimalloc instead of glibc's allocator: smaller size classes for the many short strings
/// the province view holds (see the memory figure in docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}

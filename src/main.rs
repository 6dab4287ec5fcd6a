//! The `quyhoach` command: `serve` runs a node, `demo` runs the demonstration hierarchy, and
//! the other subcommands are clients of a running node (`--node ADDR`). Everything is in
//! [`cli`]; this file only wires it.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}

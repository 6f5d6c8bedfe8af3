//! wagw: the operator CLI for wagwd. It speaks the control API on wagwd's Unix socket.

fn main() -> std::process::ExitCode {
    wagw_cli::main()
}

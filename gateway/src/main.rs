//! The `enclave` binary: parses the command line and hands over to `cli`.

fn main() -> std::process::ExitCode {
    enclave_gateway::cli::main()
}

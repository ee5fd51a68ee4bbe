fn main() -> std::process::ExitCode {
    pharos_server::main_entry()
}

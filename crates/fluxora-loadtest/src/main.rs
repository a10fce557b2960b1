//! `fluxora-loadtest`: a thin CLI over the library ([`fluxora_loadtest::cli`]).

use std::process::ExitCode;

use clap::Parser;
use fluxora_loadtest::cli::{execute, Args};

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args.threads.max(1);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(execute(args)),
        Err(error) => {
            eprintln!("fluxora-loadtest: could not start the runtime: {error}");
            ExitCode::from(2)
        }
    }
}

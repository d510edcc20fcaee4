//! Thin entry point: everything lives in the library.

/// The gateway makes many small, short-lived allocations per event (JSON trees, pointers,
/// findings, rewritten strings). glibc's malloc consolidates its fast bins whenever a request
/// of 1 KB or more follows a burst of small frees, which happens once per event; mimalloc's
/// per-thread free lists do not. Measured in docs/BENCHMARKS.md, "Measured choices".
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vendorwall::cli::main()
}

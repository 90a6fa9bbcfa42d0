//! The `groupsync` binary: everything lives in the library; this picks the allocator and hands
//! over the exit code.

// jemalloc instead of the system allocator. glibc's malloc gives the threads that allocate (the
// runtime's workers, the blocking threads that run the store's calls and name lookups) arenas of
// their own and hands freed memory back late and in pieces, so a daemon's resident set grew from
// one run to the next although what it held did not. jemalloc, with its background thread,
// returns pages left free for a few seconds to the system, also while the daemon waits between
// runs. mimalloc and capping glibc's arenas were measured too and kept growing (BENCHMARKS.md,
// "The allocator").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    groupsync::cli::main()
}

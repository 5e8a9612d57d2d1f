//! Every integration test in one binary: each file in `tests/` is a module of this one.
//! One binary links the crate once instead of once per file, and its tests share one
//! pool of test threads instead of running file after file. (`autotests = false` in
//! `Cargo.toml`; the test at the bottom fails if a file in `tests/` is left out.)
//!
//! Run one file's tests with `cargo test --test integration backfill::`.

mod common;

mod backfill;
mod bench;
mod concurrency;
mod dashboard;
mod dashboard_state;
mod echo;
mod export;
mod faults;
mod floor;
mod live_changes;
mod markets;
mod process;
mod sim;
mod splits;
mod store;
mod universe;
mod wrong_data;

/// With `autotests = false` cargo no longer finds test files by itself: a new file in
/// `tests/` that is not a module above would never run. This says so.
#[test]
fn every_file_in_tests_is_a_module_of_this_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let this = include_str!("main.rs");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let is_module =
            (path.extension().is_some_and(|e| e == "rs") && name != "main") || path.join("mod.rs").is_file();
        if is_module {
            assert!(
                this.contains(&format!("\nmod {name};\n")),
                "tests/{name} is not a module of tests/main.rs: add `mod {name};`"
            );
        }
    }
}

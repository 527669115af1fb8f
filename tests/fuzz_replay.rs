//! The fuzz corpora replayed on the stable toolchain (no libFuzzer): every file of
//! `fuzz/corpus/<target>/` goes through the same entry point its fuzz target calls
//! (`confer::fuzzing`), so a finding committed to a corpus stays fixed and `cargo test`
//! covers every target. Bad network and file input never panics the server (docs/RULES.md,
//! R-VERIFY-1, R-VERIFY-4, R-ARRANGE-1, R-REMOTE-2). How to run the fuzzers: README "Fuzzing".

use std::path::Path;

#[test]
fn every_corpus_file_goes_through_its_target_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = 0;
    for (name, target) in confer::fuzzing::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target has a corpus)", dir.display()));
        let mut files = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            if !path.is_file() {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panicked", path.display());
            files += 1;
        }
        assert!(files > 0, "the corpus of {name} is empty");
        replayed += files;
    }
    println!("replayed {replayed} corpus files");
}

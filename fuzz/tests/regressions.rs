//! Replays every checked-in fuzz input (fuzz/corpus/<target>/ seeds, and fuzz/regressions/<target>/ inputs
//! that once broke a property) through the same checks AFL++ runs.

use std::path::Path;

use largek8s_fuzz::TARGETS;

#[test]
fn checked_in_fuzz_inputs_keep_every_property() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for (name, target) in TARGETS {
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).expect("readable fuzz input");
                target(&data);
                replayed += 1;
            }
        }
    }
    assert!(
        replayed >= TARGETS.len(),
        "every target has seed inputs; replayed {replayed}"
    );
}

//! Replays the `resp_parse` fuzz corpus (`fuzz/corpus/resp_parse`) through
//! the fuzz target's entry point, so inputs that once failed stay fixed.

use std::path::Path;

#[test]
fn resp_parse_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let files = bitcask::fuzzing::corpus(&fuzz, "resp_parse");
    for (path, bytes) in files {
        eprintln!("{}", path.display());
        snowflk_server::resp::fuzz_check(&bytes);
    }
}

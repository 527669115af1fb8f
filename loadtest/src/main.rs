//! `confer-loadtest`: the binary edge. Parses options, runs one scenario, prints the table and
//! writes the JSON report. See the library docs (`confer_loadtest`) and `loadtest/README.md`.

use clap::Parser;
use confer_loadtest::{run, write_json, Options};

fn main() -> anyhow::Result<()> {
    let opts = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let json = opts.json.clone();
    let report = runtime.block_on(run(opts))?;
    println!("{}", report.table());
    if let Some(path) = json {
        write_json(&report, &path)?;
        println!("  JSON report: {}", path.display());
    }
    Ok(())
}

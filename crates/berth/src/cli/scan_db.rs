//! `berth scan-db import FILE`: replaces the vulnerability database image
//! scans match against with the OSV records of FILE (a JSON array of OSV
//! records, one record, a zip of such `.json` files as OSV exports them, or a
//! directory of `.json`/`.zip` files), kept
//! in `DATA_DIR/scan-db/osv.json`. It writes the file directly (atomically),
//! so it works whether the server runs or not; scans started afterwards
//! use it.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Clone, Debug)]
pub enum ScanDbCommand {
    /// Imports OSV records (Debian, Ubuntu and Alpine advisories are kept), replacing the database.
    Import(ImportArgs),
}

#[derive(Args, Clone, Debug)]
pub struct ImportArgs {
    /// A JSON file of OSV records (an array or one record), a zip of them (OSV's all.zip), or a directory of either.
    file: PathBuf,
    /// The data dir of the server whose scans use the database.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
    data_dir: PathBuf,
}

pub fn scan_db(cmd: ScanDbCommand) -> anyhow::Result<()> {
    let ScanDbCommand::Import(args) = cmd;
    let n = berth_registry::import_scan_database(&args.data_dir, &args.file)
        .with_context(|| format!("cannot import {}", args.file.display()))?;
    println!(
        "imported {n} advisories into {}",
        berth_registry::scan_database_path(&args.data_dir).display()
    );
    Ok(())
}

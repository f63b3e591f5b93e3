//! Writing results: output locations checked before any work, run directories
//! replaced as a whole, atomic file writes, aligned tables.

use crate::error::{CliError, CliResult};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A progress bar on stderr labelled `what`, only when a person watches stderr (a
/// terminal): piped or redirected output stays free of control characters.
pub fn progress(len: u64, what: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(len);
        let template = format!("{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} {{msg}}");
        b.set_style(
            indicatif::ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    })
}

/// A spinner on stderr for work whose progress cannot be counted (a real replay in
/// a child process), only on a terminal.
pub fn spinner(what: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_message(what.to_string());
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    })
}

/// The file a run directory holds to say that `sim` wrote it (and may replace it).
const RUN_MARKER: &str = ".brkmap-run";

/// Checks, before any work, that `path` can receive an output file: it is not a
/// directory or a device, and its directory exists (or is created now) and is
/// writable. A problem is a usage error naming the path (exit 2).
pub fn check_file_target(path: &Path, what: &str) -> CliResult {
    if let Ok(meta) = fs::metadata(path)
        && !meta.is_file()
    {
        return Err(CliError::usage(format!(
            "{what} {}: not a regular file (a directory or a device cannot be written to)",
            path.display()
        )));
    }
    let dir = parent_of(path);
    prepare_dir(&dir, what, path)?;
    probe_writable(&dir, what, path)
}

/// Checks, before any work, that `dir` is an existing directory (and, when `write`,
/// that files can be created in it). A problem is a usage error naming it (exit 2).
pub fn check_dir(dir: &Path, what: &str, write: bool) -> CliResult {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(CliError::usage(format!(
                "{what} {}: not a directory",
                dir.display()
            )));
        }
        Err(e) => {
            return Err(CliError::usage(format!("{what} {}: {e}", dir.display())));
        }
    }
    if write {
        probe_writable(dir, what, dir)?;
    }
    Ok(())
}

/// The directory a path is in (`.` for a bare file name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates `dir` (and its parents) or says why it cannot be.
fn prepare_dir(dir: &Path, what: &str, named: &Path) -> CliResult {
    if let Ok(meta) = fs::metadata(dir) {
        if meta.is_dir() {
            return Ok(());
        }
        return Err(CliError::usage(format!(
            "{what} {}: {} is not a directory",
            named.display(),
            dir.display()
        )));
    }
    fs::create_dir_all(dir).map_err(|e| {
        CliError::usage(format!(
            "{what} {}: cannot create {}: {e}",
            named.display(),
            dir.display()
        ))
    })
}

/// Proves `dir` writable by creating and removing a file in it.
fn probe_writable(dir: &Path, what: &str, named: &Path) -> CliResult {
    let probe = dir.join(format!(".brkmap-probe{}", std::process::id()));
    match fs::File::create(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(CliError::usage(format!(
            "{what} {}: cannot write in {}: {e}",
            named.display(),
            dir.display()
        ))),
    }
}

/// A run directory being written: every file goes into a staging directory beside
/// the target, and [`RunDir::commit`] puts it in the target's place as a whole. A run
/// that fails (or is dropped) leaves the target as it was, and a run never leaves an
/// earlier run's files beside its own.
///
/// The target must be missing, empty, or a directory `sim` wrote before (it holds a
/// `.brkmap-run` marker); replacing any other directory takes `force`.
pub struct RunDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl RunDir {
    /// Checks `target` and creates the staging directory beside it, before any work.
    pub fn prepare(target: &Path, force: bool, flag: &str) -> CliResult<RunDir> {
        if let Ok(meta) = fs::symlink_metadata(target) {
            if !meta.is_dir() {
                return Err(CliError::usage(format!(
                    "{flag} {}: not a directory",
                    target.display()
                )));
            }
            let mut entries = fs::read_dir(target).map_err(|e| {
                CliError::usage(format!("{flag} {}: cannot read it: {e}", target.display()))
            })?;
            let empty = entries.next().is_none();
            if !empty && !target.join(RUN_MARKER).is_file() && !force {
                return Err(CliError::usage(format!(
                    "{flag} {}: the directory holds files sim did not write; choose another \
                     directory or replace it with --force",
                    target.display()
                )));
            }
        }
        let parent = parent_of(target);
        prepare_dir(&parent, flag, target)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".to_string());
        let staging = parent.join(format!(".{name}.tmp{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir(&staging).map_err(|e| {
            CliError::usage(format!(
                "{flag} {}: cannot write in {}: {e}",
                target.display(),
                parent.display()
            ))
        })?;
        Ok(RunDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where `name` will be once the run is committed (for messages).
    pub fn final_path(&self, name: &str) -> PathBuf {
        self.target.join(name)
    }

    /// Writes file `name` of the run (into the staging directory).
    pub fn write(&self, name: &str, bytes: &[u8]) -> CliResult {
        let path = self.staging.join(name);
        fs::write(&path, bytes)
            .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))
    }

    /// Puts the run in the target's place: the old directory is moved aside, the
    /// new one renamed in, the old one removed. If the second rename fails the old
    /// directory is put back.
    pub fn commit(mut self) -> CliResult {
        self.write(
            RUN_MARKER,
            b"written by brkmap's sim; a later run may replace this directory\n",
        )?;
        let aside = self.staging.with_extension("old");
        let had_old = self.target.exists();
        if had_old {
            fs::rename(&self.target, &aside).map_err(|e| {
                CliError::failed(format!("cannot replace {}: {e}", self.target.display()))
            })?;
        }
        if let Err(e) = fs::rename(&self.staging, &self.target) {
            if had_old {
                let _ = fs::rename(&aside, &self.target);
            }
            return Err(CliError::failed(format!(
                "cannot write {}: {e}",
                self.target.display()
            )));
        }
        self.committed = true;
        if had_old {
            let _ = fs::remove_dir_all(&aside);
        }
        Ok(())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes `bytes` to `path` atomically: into a temporary file beside it, then a rename,
/// so a reader never sees half a file and an interrupted run leaves the old one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CliResult {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir).map_err(|e| {
            CliError::failed(format!("cannot create directory {}: {e}", dir.display()))
        })?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        CliError::failed(format!("cannot write {}: {e}", path.display()))
    })
}

/// Writes `text` to stdout. A reader that went away (`sim list | head -1`) is not an
/// error worth a message: the command stops quietly, as Unix tools do.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("sim: error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Byte counts and durations as the tables print them: the workspace's one formatter.
pub use units::{bytes, nanos};

/// A text table with a header row; the first column is left-aligned, the others right
/// unless marked with [`Table::left`].
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    left: Vec<bool>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        let mut left = vec![false; header.len()];
        if let Some(first) = left.first_mut() {
            *first = true;
        }
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            left,
        }
    }

    /// Left-aligns column `col` (for text columns).
    pub fn left(mut self, col: usize) -> Table {
        if let Some(l) = self.left.get_mut(col) {
            *l = true;
        }
        self
    }

    /// Adds a row (as many cells as the header).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The number of rows so far (the header not counted).
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// Renders the table with two spaces between columns and a rule under the header.
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut width = vec![0usize; cols];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |row: &Vec<String>| {
            let mut s = String::new();
            for (i, (cell, w)) in row.iter().zip(&width).enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = w - cell.chars().count();
                if self.left[i] {
                    s.push_str(cell);
                    s.push_str(&" ".repeat(pad));
                } else {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(cell);
                }
            }
            s.trim_end().to_string()
        };
        let mut out = line(&self.header);
        out.push('\n');
        let total: usize = width.iter().sum::<usize>() + 2 * (cols.saturating_sub(1));
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["name", "n"]);
        t.row(vec!["glibc".into(), "5".into()]);
        t.row(vec!["mmap".into(), "1234".into()]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "name      n");
        assert_eq!(lines[2], "glibc     5");
        assert_eq!(lines[3], "mmap   1234");
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = std::env::temp_dir().join(format!("brkmap-out-{}", std::process::id()));
        let p = dir.join("x.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        fs::remove_dir_all(&dir).unwrap();
    }
}

//! Errors the command reports: one line, and an exit code.
//!
//! Exit code 2 means the user asked for something impossible (bad flag, unknown name,
//! malformed trace, nonexistent file); 1 means the work itself failed (a write error,
//! a broken allocator).

use std::fmt;

/// An error that ends the command.
#[derive(Debug)]
pub struct CliError {
    /// The process exit code.
    pub code: i32,
    /// One line saying what went wrong and where.
    pub message: String,
}

impl CliError {
    /// Bad usage or bad input: exit code 2.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    /// The work failed: exit code 1.
    pub fn failed(message: impl Into<String>) -> CliError {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result type of every command.
pub type CliResult<T = ()> = Result<T, CliError>;

/// clap's whole message about a usage error, folded into one line of ours: what is
/// wrong, every detail clap gives (the missing arguments, a did-you-mean tip, the
/// possible values), the usage line, and the help of the subcommand concerned.
/// Names are quoted with backticks, as in every other message of `sim`.
pub fn usage_line(clap_text: &str, typed: Option<&str>) -> String {
    let mut line = String::new();
    let mut usage = None;
    for part in clap_text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if part.starts_with("For more information") {
            continue;
        }
        if let Some(u) = part.strip_prefix("Usage: ") {
            usage = Some(u.to_string());
            continue;
        }
        // A usage of several lines: `Usage: sim [OPTIONS]` then `sim <COMMAND>`.
        if let Some(u) = usage.as_mut()
            && part.starts_with("sim ")
        {
            u.push_str(" | ");
            u.push_str(part);
            continue;
        }
        let part = part.strip_prefix("error: ").unwrap_or(part);
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    if line.is_empty() {
        line.push_str("bad usage");
    }
    // The subcommand is what the usage line names between `sim` and the first option.
    let sub: Vec<&str> = usage
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take_while(|w| !w.starts_with(['-', '[', '<']))
        .collect();
    if let Some(u) = &usage {
        line.push_str("; usage: ");
        line.push_str(u);
    }
    let help = match (sub.is_empty(), typed) {
        (false, _) => format!("sim {} --help", sub.join(" ")),
        (true, Some(t)) => format!("sim {t} --help"),
        (true, None) => "sim --help".to_string(),
    };
    format!("{} (see `{help}`)", backticks(&line))
}

/// `'x'` quoting (clap's) as `` `x` `` (ours).
fn backticks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open = false;
    for c in text.chars() {
        if c == '\'' {
            out.push('`');
            open = !open;
        } else {
            out.push(c);
        }
    }
    if open {
        // An apostrophe, not a quote: put the text back as it was.
        return text.to_string();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_messages_fold_into_one_line_with_every_detail() {
        let missing = "error: the following required arguments were not provided:\n  \
                       --emit-ops <FILE>\n\nUsage: sim replay --emit-ops <FILE> \
                       <--workload <NAME>|--trace <FILE>>\n\nFor more information, try \
                       '--help'.\n";
        assert_eq!(
            usage_line(missing, None),
            "the following required arguments were not provided: --emit-ops <FILE>; usage: \
             sim replay --emit-ops <FILE> <--workload <NAME>|--trace <FILE>> (see `sim replay \
             --help`)"
        );
        let typo = "error: unexpected argument '--worklaod' found\n\n  tip: a similar \
                    argument exists: '--workload'\n\nUsage: sim --workload <NAME>\n";
        assert_eq!(
            usage_line(typo, None),
            "unexpected argument `--worklaod` found; tip: a similar argument exists: \
             `--workload`; usage: sim --workload <NAME> (see `sim --help`)"
        );
        assert_eq!(usage_line("", None), "bad usage (see `sim --help`)");
        assert_eq!(backticks("don't"), "don't");
        assert_eq!(
            usage_line(
                "error: invalid value 'x' for '--seed <SEED>'\n",
                Some("quiz")
            ),
            "invalid value `x` for `--seed <SEED>` (see `sim quiz --help`)"
        );
    }
}

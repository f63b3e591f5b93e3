//! What machine the numbers come from: read from `/proc`, `/sys`, `uname` and glibc.

use crate::bench::Machine;
use crate::sys;

/// Describes this machine. Missing files give "unknown" rather than an error: the
/// description is informative, the benchmarks do not depend on it.
pub(crate) fn detect() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let cpu_model = field("model name")
        .or_else(|| field("Hardware"))
        .or_else(|| field("cpu model"))
        .unwrap_or_else(|| "unknown CPU".to_string());
    let virtualized =
        field("flags").is_some_and(|f| f.split_whitespace().any(|x| x == "hypervisor"));
    let unknown = || "unknown".to_string();
    let (sysname, release, arch) = match sys::uname() {
        Some(u) => (u.sysname, u.release, u.machine),
        None => (unknown(), unknown(), unknown()),
    };
    Machine {
        cpu_model,
        cpus: sys::online_cpus(),
        virtualized,
        kernel: format!("{sysname} {release}"),
        arch,
        glibc: sys::glibc_version().unwrap_or("unknown").to_string(),
        page_size: sys::page_size(),
        thp: thp_setting("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_else(|| "unknown".to_string()),
        clocksource: std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string()),
    }
}

/// The selected value of a sysfs THP switch: the word in brackets, as in
/// `always [madvise] never`.
fn thp_setting(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let start = text.find('[')?;
    let end = text[start..].find(']')? + start;
    Some(text[start + 1..end].to_string())
}

/// Whether an anonymous mapping nobody advised can get transparent huge pages: THP in
/// `always` mode, or any multi-size THP order set to `always` (or to `inherit` while
/// the global switch is `always`). When this is false, `MAP_POPULATE` and plain faults
/// map base pages only.
pub(crate) fn thp_without_asking() -> bool {
    let global = thp_setting("/sys/kernel/mm/transparent_hugepage/enabled");
    if global.as_deref() == Some("always") {
        return true;
    }
    let Ok(dir) = std::fs::read_dir("/sys/kernel/mm/transparent_hugepage") else {
        return false;
    };
    dir.flatten().any(|e| {
        let name = e.file_name();
        name.to_string_lossy().starts_with("hugepages-")
            && thp_setting(&format!("{}/enabled", e.path().display())).as_deref() == Some("always")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_this_machine() {
        let m = detect();
        assert!(m.cpus >= 1);
        assert!(m.page_size >= 4096 && m.page_size.is_power_of_two());
        assert!(m.kernel.starts_with("Linux "), "{}", m.kernel);
        assert!(m.glibc.starts_with("2."), "{}", m.glibc);
    }
}

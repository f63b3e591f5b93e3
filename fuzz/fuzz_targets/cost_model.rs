//! Cost files (`--cost FILE`): `CostModel::from_json` on any text. No input may panic;
//! a file that loads must be a valid model (`validate`: the kernel would otherwise
//! replace the bad numbers by defaults without a word), must survive `to_json`, and
//! must run a small program on a kernel and give finite simulated times.
#![no_main]

use kernel::{Access, CostModel, Kernel, KernelConfig, MapFlags, Prot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cost) = CostModel::from_json(text) else {
        return;
    };
    if let Err(e) = cost.validate() {
        panic!("a cost file that loads must be valid, but: {e}");
    }
    match CostModel::from_json(&cost.to_json()) {
        Ok(back) => assert_eq!(back, cost, "to_json and back changed the model"),
        Err(e) => panic!("to_json wrote what from_json refuses: {e}"),
    }
    let config = KernelConfig {
        phys_bytes: 16 << 20,
        cost,
        ..KernelConfig::default()
    };
    let mut k = match Kernel::try_new(config) {
        Ok(k) => k,
        Err(e) => panic!("a valid cost model makes a valid kernel, but: {e}"),
    };
    // Every kind of event once: syscalls, faults, zeroing, page tables, TLB, teardown.
    let heap = k.program_break();
    let _ = k.brk(heap + 8192);
    let _ = k.touch(heap, 8192, Access::Write);
    if let Ok(a) = k.mmap(0, 1 << 20, Prot::RW, MapFlags::POPULATE) {
        let _ = k.touch(a, 4096, Access::Read);
        let _ = k.mprotect(a, 4096, Prot::READ);
        let _ = k.madvise(a + 4096, 8192, kernel::Advice::DontNeed);
        let _ = k.mremap(a, 1 << 20, 2 << 20, kernel::MremapFlags::MAYMOVE);
    }
    let child = k.spawn();
    let _ = k.switch_to(child);
    k.charge_user(1.0);
    if let Err(e) = k.check_consistency() {
        panic!("{e}");
    }
    // A valid model gives finite times: tables, JSON and charts need numbers.
    for pid in k.pids() {
        let ledger = k.ledger_of(pid).expect("a live process has a ledger");
        assert!(ledger.total().is_finite(), "{pid}: {ledger:?}");
    }
});

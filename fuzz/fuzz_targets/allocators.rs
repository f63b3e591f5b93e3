//! Every registered allocator under the public contract checker: the input picks an
//! allocator, up to four of its options (typed values from its own option table), a
//! machine (plenty of memory, little memory, no overcommit, a small `RLIMIT_DATA`), and
//! a program of up to 512 calls ([`brkmap_fuzz::program`]). A `Violation` is a finding
//! (see [`brkmap_fuzz::allocator_at_fault`] for the one exception), and so is a panic.
//! After the program every block is freed and the kernel's audit must pass.
#![no_main]

use brkmap_fuzz::{Bytes, allocator_at_fault, program, settings};
use kernel::{Kernel, KernelConfig, Overcommit, OvercommitPolicy};
use libfuzzer_sys::fuzz_target;
use malloc::contract::Contract;

fn machine(b: &mut Bytes) -> KernelConfig {
    let small = KernelConfig {
        phys_bytes: 64 << 20,
        ..KernelConfig::default()
    };
    match b.u8() % 4 {
        0 => KernelConfig::default(),
        1 => small,
        2 => KernelConfig {
            overcommit: Overcommit {
                policy: OvercommitPolicy::Never,
                ..Overcommit::default()
            },
            ..small
        },
        _ => KernelConfig {
            data_limit: Some(u64::from(b.u8()) << 16),
            ..KernelConfig::default()
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let entry = b.pick(lab::registry::entries());
    let settings = settings(&mut b, &entry.options, 4);
    let Ok(allocator) = entry.build(&settings) else {
        return;
    };
    let config = machine(&mut b);
    let ops = program(&mut b, 512);
    let overhang = if entry.name == "glibc" { 8 } else { 0 };
    let mut c = Contract::new(allocator, Kernel::new(config)).overhang(overhang);
    let result = c.run(&ops).and_then(|()| c.free_all());
    if let Err(v) = result {
        if allocator_at_fault(&v) {
            panic!("{} with {settings:?}: {v}", entry.name);
        }
        return;
    }
    if let Err(e) = c.kernel().check_consistency() {
        panic!("{} with {settings:?}: {e}", entry.name);
    }
});

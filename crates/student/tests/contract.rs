//! The baseline keeps the whole contract, contents rules and its own heap checker
//! included, on random programs; and its checker finds what it should.

#[path = "../../malloc/tests/strategies/mod.rs"]
mod strategies;

use kernel::{Kernel, KernelConfig};
use malloc::Allocator;
use malloc::contract::Contract;
use proptest::prelude::*;
use student::{Student, StudentConfig};

fn student() -> Student {
    Student::new(StudentConfig::default()).unwrap()
}

fn contract() -> Contract<Student> {
    Contract::new(student(), Kernel::new(KernelConfig::default()))
        .check_contents(true)
        .heap_check(Student::check_heap)
}

#[test]
fn blocks_are_reused_split_and_coalesced() {
    let mut c = contract();
    let a = c.malloc(100).unwrap().unwrap();
    let b = c.malloc(100).unwrap().unwrap();
    let d = c.malloc(100).unwrap().unwrap();
    assert_eq!(
        b.ptr - a.ptr,
        128,
        "100 bytes + header + footer, rounded to 16"
    );
    c.free(a.ptr).unwrap();
    c.free(b.ptr).unwrap(); // coalesces with a
    let e = c.malloc(200).unwrap().unwrap();
    assert_eq!(e.ptr, a.ptr, "first fit takes the merged hole");
    assert!(c.keeps_bytes());
    let big = c.malloc(100_000).unwrap().unwrap();
    assert!(big.ptr > d.ptr);
    c.free_all().unwrap();
    let s = c.allocator().stats();
    assert_eq!(s.allocated, 0);
    assert_eq!(s.footprint, c.kernel().mem().mapped);
    let map = {
        let mut m = Vec::new();
        c.allocator().blocks(&mut m);
        m
    };
    assert_eq!(map.len(), 3, "prologue, one free block, epilogue: {map:?}");
}

#[test]
fn check_heap_names_what_is_wrong() {
    let mut k = Kernel::new(KernelConfig::default());
    let mut s = student();
    let a = s.malloc(&mut k, 40).unwrap();
    let b = s.malloc(&mut k, 40).unwrap();
    assert_eq!(s.check_heap(&k), Ok(()));
    // A footer overwritten (as a payload overrun of block a would do).
    k.write_u64(b - 16, 0xdead).unwrap();
    assert_eq!(
        s.check_heap(&k),
        Err(format!(
            "block at {:#x}: header 0x41 and footer 0xdead disagree",
            a - 8
        ))
    );
    k.write_u64(b - 16, 0x41).unwrap();
    // Two free neighbours that were not merged.
    k.write_u64(a - 8, 0x40).unwrap();
    k.write_u64(a - 8 + 56, 0x40).unwrap();
    k.write_u64(b - 8, 0x40).unwrap();
    k.write_u64(b - 8 + 56, 0x40).unwrap();
    let e = s.check_heap(&k).unwrap_err();
    assert!(e.contains("should have been coalesced"), "{e}");
}

#[test]
fn bad_pointers_are_refused_and_change_nothing() {
    let mut c = contract();
    let a = c.malloc(64).unwrap().unwrap();
    c.free(a.ptr + 16).unwrap(); // inside the block: refused
    c.free(a.ptr + 4096 * 4).unwrap(); // past the heap: refused
    c.free(0).unwrap();
    c.free(a.ptr).unwrap();
    c.free(a.ptr).unwrap(); // double free: refused
    assert_eq!(c.calls(), 6);
}

#[test]
fn its_options_and_its_user_time() {
    let e = Student::new(StudentConfig { chunk_size: 5000 }).unwrap_err();
    assert!(e.to_string().contains("whole pages"), "{e}");
    let mut k = Kernel::new(KernelConfig::default());
    let mut s = Student::new(StudentConfig {
        chunk_size: 64 * 1024,
    })
    .unwrap();
    s.malloc(&mut k, 10).unwrap();
    assert_eq!(s.stats().footprint, 64 * 1024);
    // The call and the words it read and wrote, one alloc_op_ns each.
    let lines = k.byte_stats().lines();
    let user = k.ledger().get(kernel::CostCategory::User);
    assert_eq!(user, (1 + lines) as f64 * k.config().cost.alloc_op_ns);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(strategies::cases()))]

    /// Random programs, bad pointers included: every rule holds after every call.
    #[test]
    fn it_keeps_the_contract(ops in strategies::program(strategies::heap_sizes(), false, 150)) {
        let mut c = contract();
        c.run(&ops).map_err(strategies::fail)?;
        c.free_all().map_err(strategies::fail)?;
        prop_assert_eq!(c.allocator().stats().allocated, 0);
    }
}

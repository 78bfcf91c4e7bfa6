//! Memory layouts: guarded memories (no bounds checks in compiled code) trap exactly
//! where dense ones do, including in a slot a larger memory used before, and a runtime
//! chooses between them by its capacity.

use shoal_scheduler::{
    ConfigError, ExitReason, MAX_GUARDED_PROCESSES, MemoryLayout, Runtime, TrapCode,
};

use crate::{epoch, exit_of};

/// One page of memory. Its entry takes an address and loads the word there; the word at
/// address 8 is 42 (a data segment), and `store` writes at an address first.
const PROBE: &str = r#"(module
  (memory 1)
  (data (i32.const 8) "\2a")
  (func (export "load") (param $at i64) (result i32)
    (i32.load (i32.wrap_i64 (local.get $at))))
  (func (export "far") (param $at i64) (result i32)
    (i32.load offset=0xfffffff0 (i32.wrap_i64 (local.get $at))))
  (func (export "grow_then_load") (param $at i64) (result i32)
    (drop (memory.grow (i32.const 1)))
    (i32.load (i32.wrap_i64 (local.get $at)))))"#;

/// Grows its memory to four pages and fills the last, then exits.
const GROWER: &str = r#"(module
  (memory 1)
  (func (export "main") (result i32)
    (drop (memory.grow (i32.const 3)))
    (memory.fill (i32.const 0x30000) (i32.const 0xAB) (i32.const 0x10000))
    (i32.const 0)))"#;

fn runtime(layout: MemoryLayout) -> Runtime {
    // One slot, so that every process reuses the memory of the one before it.
    Runtime::builder()
        .workers(1)
        .capacity(1)
        .preemption(epoch())
        .memory_layout(layout)
        .build()
        .expect("valid settings")
}

fn outcome(rt: &Runtime, module: &shoal_scheduler::Module, export: &str, arg: i64) -> ExitReason {
    exit_of(&rt.spawn(module, export, arg).unwrap()).reason
}

/// Whether `reason` is an out-of-bounds memory access.
fn out_of_bounds(reason: &ExitReason) -> bool {
    matches!(
        reason,
        ExitReason::Trap {
            code: TrapCode::MemoryOutOfBounds,
            ..
        }
    )
}

#[test]
fn both_layouts_load_inside_the_memory_and_trap_past_its_end() {
    for layout in [MemoryLayout::Dense, MemoryLayout::Guarded] {
        let rt = runtime(layout);
        assert_eq!(rt.memory_layout(), layout);
        let probe = rt.compile_wat(PROBE).unwrap();
        assert_eq!(
            outcome(&rt, &probe, "load", 8),
            ExitReason::Normal { code: 42 },
            "{layout:?}"
        );
        assert_eq!(
            outcome(&rt, &probe, "load", 0xFFFC),
            ExitReason::Normal { code: 0 },
            "{layout:?}: the last word of the page"
        );
        for at in [0xFFFD, 0x10000, 0x3FFF_FFFF, 0xFFFF_FFFF] {
            assert!(
                out_of_bounds(&outcome(&rt, &probe, "load", at)),
                "{layout:?}: a load at {at:#x}"
            );
        }
        assert!(
            out_of_bounds(&outcome(&rt, &probe, "far", 0x100)),
            "{layout:?}: an offset that carries the address past 4 GiB"
        );
        assert_eq!(
            outcome(&rt, &probe, "grow_then_load", 0x1FFFC),
            ExitReason::Normal { code: 0 },
            "{layout:?}: a grown page is readable"
        );
        assert!(
            out_of_bounds(&outcome(&rt, &probe, "grow_then_load", 0x20000)),
            "{layout:?}: and nothing past it"
        );
    }
}

#[test]
fn a_memory_in_a_slot_a_larger_one_used_cannot_reach_its_old_pages() {
    for layout in [MemoryLayout::Dense, MemoryLayout::Guarded] {
        let rt = runtime(layout);
        let grower = rt.compile_wat(GROWER).unwrap();
        let probe = rt.compile_wat(PROBE).unwrap();
        for _ in 0..3 {
            assert_eq!(
                outcome(&rt, &grower, "main", 0),
                ExitReason::Normal { code: 0 }
            );
            assert!(
                out_of_bounds(&outcome(&rt, &probe, "load", 0x30000)),
                "{layout:?}: the page the grower filled is closed to a one-page memory"
            );
            assert_eq!(
                outcome(&rt, &probe, "grow_then_load", 0x1FFFC),
                ExitReason::Normal { code: 0 },
                "{layout:?}: and reads as zero once grown into again"
            );
        }
        assert_eq!(rt.held().memory_slots, 0);
    }
}

#[test]
fn a_runtime_chooses_guarded_memories_up_to_their_process_limit() {
    let layout = |capacity| {
        Runtime::builder()
            .workers(1)
            .capacity(capacity)
            .build()
            .unwrap()
            .memory_layout()
    };
    assert_eq!(layout(100), MemoryLayout::Guarded);
    assert_eq!(layout(MAX_GUARDED_PROCESSES + 1), MemoryLayout::Dense);
    assert!(matches!(
        Runtime::builder()
            .workers(1)
            .capacity(MAX_GUARDED_PROCESSES + 1)
            .memory_layout(MemoryLayout::Guarded)
            .build(),
        Err(ConfigError::Invalid {
            setting: "memory_layout",
            ..
        })
    ));
}

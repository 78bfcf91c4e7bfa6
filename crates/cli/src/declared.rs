//! What a module declares about its memory and its table, read from its bytes before any
//! runtime exists: `shoal run` sizes the runtime's memory slots and table cap from it.
//!
//! Only the sections that declare memories and tables are read (the import, memory and
//! table sections); everything else, code included, is skipped, so this costs little
//! even for a module of tens of megabytes. A module these sections do not parse in is
//! reported as declaring nothing: compiling it reports the error properly.

use wasmparser::{Parser, Payload, TypeRef};

/// The wasm page size unless a memory declares its own (the custom-page-sizes proposal).
const DEFAULT_PAGE_LOG2: u32 = 16;

/// Address space the memory arena may take when it is sized for a module (slot size ×
/// capacity): 16 TiB, an eighth of x86-64's 128 TiB of user address space, leaving the
/// rest to the fiber stacks, the heap and the host. Address space, not memory: only the
/// pages a process touches become resident.
const ARENA_ADDRESS_SPACE: u64 = 16 << 40;

/// The host module guests import the actor ABI from (docs/ABI.md).
const SHOAL_MODULE: &str = "shoal";

/// The `shoal:actor` world's interface that spawns (wit/actor.wit).
const ACTOR_PROCESS: &str = "shoal:actor/process";

/// The largest memory slot the runtime accepts: a 32-bit memory's 4 GiB.
const MAX_SLOT: u64 = 4 << 30;

/// The wasm page size: slot sizes are whole pages.
const WASM_PAGE: u64 = 1 << DEFAULT_PAGE_LOG2;

/// A module's largest memory and table, as declared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Declared {
    /// Initial size of its largest memory, in bytes.
    pub memory_min: u64,
    /// That memory's declared maximum, in bytes; `None` when it declares none (or the
    /// module has no memory).
    pub memory_max: Option<u64>,
    /// Initial elements of its largest table.
    pub table_min: u64,
    /// Whether it can spawn processes: it imports a `spawn` function of the `shoal` host
    /// module, or is a component that imports the `shoal:actor` world's `process`
    /// interface. One that cannot needs no room for children.
    pub spawns: bool,
}

impl Declared {
    /// Reads what `bytes` (binary wasm, or WAT text) declare.
    pub(crate) fn of(bytes: &[u8]) -> Declared {
        match wat::parse_bytes(bytes) {
            Ok(binary) => Self::of_binary(&binary),
            Err(_) => Declared::default(),
        }
    }

    fn of_binary(binary: &[u8]) -> Declared {
        let mut declared = Declared::default();
        for payload in Parser::new(0).parse_all(binary) {
            let Ok(payload) = payload else {
                return Declared::default();
            };
            match payload {
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports().flatten() {
                        declared.spawns |=
                            import.module == SHOAL_MODULE && import.name.starts_with("spawn");
                        match import.ty {
                            TypeRef::Memory(memory) => declared.memory(&memory),
                            TypeRef::Table(table) => declared.table(&table),
                            _ => {}
                        }
                    }
                }
                Payload::ComponentImportSection(imports) => {
                    for import in imports.into_iter().flatten() {
                        declared.spawns |= import.name.name.starts_with(ACTOR_PROCESS);
                    }
                }
                Payload::MemorySection(memories) => {
                    for memory in memories.into_iter().flatten() {
                        declared.memory(&memory);
                    }
                }
                Payload::TableSection(tables) => {
                    for table in tables.into_iter().flatten() {
                        declared.table(&table.ty);
                    }
                }
                _ => {}
            }
        }
        declared
    }

    /// The largest memory to allow each of `capacity` processes of this module: its
    /// declared maximum, or as much as [`ARENA_ADDRESS_SPACE`] leaves each slot when it
    /// declares none (at most 4 GiB); at least its initial size and the runtime's default.
    pub(crate) fn max_memory(&self, capacity: usize) -> u64 {
        let room =
            (ARENA_ADDRESS_SPACE / capacity.max(1) as u64 / WASM_PAGE * WASM_PAGE).min(MAX_SLOT);
        self.memory_max
            .map_or(room, |max| max.min(room))
            .max(self.memory_min)
            .max(shoal::DEFAULT_MAX_MEMORY as u64)
    }

    /// The largest table to allow: its initial size, at least the runtime's default.
    pub(crate) fn max_table_elements(&self) -> u32 {
        u32::try_from(self.table_min)
            .unwrap_or(u32::MAX)
            .max(shoal::DEFAULT_MAX_TABLE_ELEMENTS)
    }

    fn memory(&mut self, memory: &wasmparser::MemoryType) {
        let page = 1u64 << memory.page_size_log2.unwrap_or(DEFAULT_PAGE_LOG2);
        let min = memory.initial.saturating_mul(page);
        if min >= self.memory_min {
            self.memory_min = min;
            self.memory_max = memory.maximum.map(|max| max.saturating_mul(page));
        }
    }

    fn table(&mut self, table: &wasmparser::TableType) {
        self.table_min = self.table_min.max(table.initial);
    }
}

#[cfg(test)]
mod tests {
    use super::Declared;

    #[test]
    fn a_memory_and_table_are_read_in_bytes_and_elements() {
        let wat = br#"(module (memory 298 1000) (table 10433 funcref))"#;
        assert_eq!(
            Declared::of(wat),
            Declared {
                memory_min: 298 << 16,
                memory_max: Some(1000 << 16),
                table_min: 10_433,
                spawns: false,
            }
        );
    }

    #[test]
    fn a_memory_without_a_maximum_declares_none() {
        let declared = Declared::of(br#"(module (memory 3))"#);
        assert_eq!(declared.memory_min, 3 << 16);
        assert_eq!(declared.memory_max, None);
        assert_eq!(declared.table_min, 0);
    }

    #[test]
    fn the_caps_follow_the_declaration_within_the_address_space() {
        let declared = Declared::of(br#"(module (memory 298) (table 10433 funcref))"#);
        // No maximum: what 16 TiB leaves 10,000 slots, in whole pages.
        assert_eq!(
            declared.max_memory(10_000),
            (16u64 << 40) / 10_000 / 65_536 * 65_536
        );
        assert_eq!(declared.max_memory(1), 4 << 30, "never above 4 GiB");
        assert_eq!(declared.max_table_elements(), 10_433);
        let small = Declared::of(br#"(module (memory 1 2))"#);
        assert_eq!(
            small.max_memory(10_000),
            16 << 20,
            "never below the default"
        );
        assert_eq!(small.max_table_elements(), 10_000);
    }

    #[test]
    fn a_module_spawns_only_if_it_imports_a_spawn_function() {
        let spawner =
            br#"(module (import "shoal" "spawn_link" (func (param i32 i32 i64) (result i64))))"#;
        assert!(Declared::of(spawner).spawns);
        let sender = br#"(module (import "shoal" "send" (func (param i64 i32 i32) (result i32))))"#;
        assert!(!Declared::of(sender).spawns);
        let wasi = br#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))"#;
        assert!(!Declared::of(wasi).spawns);
        let component = br#"(component
            (import "shoal:actor/process@0.1.0" (instance))
            (import "wasi:cli/stdout@0.2.0" (instance)))"#;
        assert!(Declared::of(component).spawns);
        assert!(
            !Declared::of(br#"(component (import "wasi:cli/stdout@0.2.0" (instance)))"#).spawns
        );
    }

    #[test]
    fn a_module_that_does_not_parse_declares_nothing() {
        assert_eq!(Declared::of(b"\0asm garbage"), Declared::default());
        assert_eq!(Declared::of(b"(module"), Declared::default());
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Counts heap allocations (`malloc`, `calloc`, `realloc`, `posix_memalign`, `aligned_alloc`) while
/// switched on, for the untimed counting passes of `nimbus bench`.
///
/// How: the calls the Swift runtime and this executable make to those functions go through their
/// global offset tables (the PLT), and `start` points those entries at counting wrappers that call
/// the allocator's functions; `stop` puts the entries back. Every Swift heap object (class instances,
/// array and string buffers, boxes, closure contexts) is allocated by the runtime's `swift_slowAlloc`,
/// which calls `malloc` or `posix_memalign` through libswiftCore's table, so all of them are counted,
/// as are `UnsafeMutablePointer.allocate` and the executable's own `malloc`/`calloc` calls. Nothing is
/// redirected outside the counting passes, so the timed loops run untouched. (The Swift runtime's own
/// instrumentation hook, `_swift_allocObject`, is not used: once it is set, the runtime routes every
/// retain through an adapter that crashes on tagged values such as small strings.)
///
/// Linux (ELF, glibc) only; elsewhere `isAvailable` is false.
enum AllocationCounter {
    typealias Malloc = @convention(c) (Int) -> UnsafeMutableRawPointer?
    typealias Calloc = @convention(c) (Int, Int) -> UnsafeMutableRawPointer?
    typealias Realloc = @convention(c) (UnsafeMutableRawPointer?, Int) -> UnsafeMutableRawPointer?
    typealias PosixMemalign = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int, Int) -> Int32
    typealias AlignedAlloc = @convention(c) (Int, Int) -> UnsafeMutableRawPointer?

    /// The allocator's functions, which the wrappers call (looked up by name, never through a patched
    /// table).
    private struct Real: @unchecked Sendable {
        var malloc: Malloc
        var calloc: Calloc
        var realloc: Realloc
        var posixMemalign: PosixMemalign
        var alignedAlloc: AlignedAlloc
    }

    /// One table entry: where it is, what it held when counting started, what counting puts there.
    private struct Slot: @unchecked Sendable {
        var address: UnsafeMutablePointer<UnsafeRawPointer?>
        var saved: UnsafeMutablePointer<UnsafeRawPointer?>
        var counting: UnsafeRawPointer
    }

    private static let counted = Atomic<Int>(0)
    private static let found: Real? = findReal()
    /// `found`, or stand-ins never called (no table entry is redirected without the real functions).
    /// Not optional, so that the wrappers unwrap nothing.
    private static let real: Real = found ?? Real(
        malloc: { _ in nil }, calloc: { _, _ in nil }, realloc: { _, _ in nil }, posixMemalign: { _, _, _ in 12 },
        alignedAlloc: { _, _ in nil })
    private static let slots: [Slot] = findSlots()

    private static let countingMalloc: Malloc = { size in
        AllocationCounter.counted.wrappingAdd(1, ordering: .relaxed)
        return AllocationCounter.real.malloc(size)
    }
    private static let countingCalloc: Calloc = { n, size in
        AllocationCounter.counted.wrappingAdd(1, ordering: .relaxed)
        return AllocationCounter.real.calloc(n, size)
    }
    private static let countingRealloc: Realloc = { p, size in
        AllocationCounter.counted.wrappingAdd(1, ordering: .relaxed)
        return AllocationCounter.real.realloc(p, size)
    }
    private static let countingPosixMemalign: PosixMemalign = { out, alignment, size in
        AllocationCounter.counted.wrappingAdd(1, ordering: .relaxed)
        return AllocationCounter.real.posixMemalign(out, alignment, size)
    }
    private static let countingAlignedAlloc: AlignedAlloc = { alignment, size in
        AllocationCounter.counted.wrappingAdd(1, ordering: .relaxed)
        return AllocationCounter.real.alignedAlloc(alignment, size)
    }

    /// The functions a plain call would reach (RTLD_DEFAULT: glibc's, or a sanitizer's that replaces
    /// them, so that memory counted here is freed by the same allocator).
    private static func findReal() -> Real? {
        #if os(Linux)
        guard let m = dlsym(nil, "malloc"), let c = dlsym(nil, "calloc"), let r = dlsym(nil, "realloc"),
              let p = dlsym(nil, "posix_memalign"), let a = dlsym(nil, "aligned_alloc") else { return nil }
        return Real(malloc: unsafeBitCast(m, to: Malloc.self), calloc: unsafeBitCast(c, to: Calloc.self),
                    realloc: unsafeBitCast(r, to: Realloc.self), posixMemalign: unsafeBitCast(p, to: PosixMemalign.self),
                    alignedAlloc: unsafeBitCast(a, to: AlignedAlloc.self))
        #else
        return nil
        #endif
    }

    /// The table entries for the allocation functions in this executable and in libswiftCore.
    private static func findSlots() -> [Slot] {
        #if os(Linux)
        guard found != nil else { return [] }
        warmUp()
        let wrappers: [String: UnsafeRawPointer] = [
            "malloc": unsafeBitCast(countingMalloc, to: UnsafeRawPointer.self),
            "calloc": unsafeBitCast(countingCalloc, to: UnsafeRawPointer.self),
            "realloc": unsafeBitCast(countingRealloc, to: UnsafeRawPointer.self),
            "posix_memalign": unsafeBitCast(countingPosixMemalign, to: UnsafeRawPointer.self),
            "aligned_alloc": unsafeBitCast(countingAlignedAlloc, to: UnsafeRawPointer.self),
        ]
        var entries: [(UnsafeMutablePointer<UnsafeRawPointer?>, UnsafeRawPointer)] = []
        for object in ELFObject.loaded() where object.name.isEmpty || object.name.contains("libswiftCore") {
            for (symbol, address) in object.tableEntries() {
                if let w = wrappers[symbol] { entries.append((address, w)) }
            }
        }
        // Make the pages writable (with full RELRO they are read-only after loading).
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var out: [Slot] = []
        for (address, wrapper) in entries {
            let start = Int(bitPattern: address) & ~(page - 1)
            guard mprotect(UnsafeMutableRawPointer(bitPattern: start), page, PROT_READ | PROT_WRITE) == 0 else { continue }
            let saved = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: 1)  // kept for the process
            saved.initialize(to: address.pointee)
            out.append(Slot(address: address, saved: saved, counting: wrapper))
        }
        return out
        #else
        return []
        #endif
    }

    /// Calls every wrapper once, before any table entry points at them: whatever the Swift runtime
    /// sets up lazily on a first call (type metadata, in an unoptimized build) is set up now. Done
    /// later, from inside an allocation the runtime makes while holding its metadata lock, it would
    /// deadlock.
    private static func warmUp() {
        free(countingMalloc(16))
        free(countingCalloc(1, 16))
        free(countingRealloc(nil, 16))
        var p: UnsafeMutableRawPointer? = nil
        if countingPosixMemalign(&p, 64, 64) == 0 { free(p) }
        free(countingAlignedAlloc(64, 64))
        counted.store(0, ordering: .relaxed)
    }

    /// Whether counts can be taken here: the tables were found and a known allocation was counted.
    static let isAvailable: Bool = {
        guard !slots.isEmpty else { return false }
        start()
        allocateOneObject()
        let n = stop()
        return n >= 1
    }()

    /// Allocates one object that escapes (into `probe`), so the optimizer cannot put it on the stack.
    @inline(never)
    private static func allocateOneObject() {
        probe = ProbeObject(16)
        probe = nil
    }

    private final class ProbeObject {
        var value: Int
        init(_ v: Int) { value = v }
    }

    nonisolated(unsafe) private static var probe: ProbeObject?

    /// Resets the count and switches counting on (for every thread).
    static func start() {
        counted.store(0, ordering: .sequentiallyConsistent)
        for s in slots {
            s.saved.pointee = s.address.pointee
            s.address.pointee = s.counting
        }
        _ = counted.load(ordering: .sequentiallyConsistent)
    }

    /// Switches counting off and returns the allocations made since `start`.
    static func stop() -> Int {
        _ = counted.load(ordering: .sequentiallyConsistent)
        for s in slots { s.address.pointee = s.saved.pointee }
        return counted.load(ordering: .sequentiallyConsistent)
    }
}

#if os(Linux)
@_silgen_name("dl_iterate_phdr")
private func c_dl_iterate_phdr(
    _ callback: @convention(c) (UnsafeRawPointer?, Int, UnsafeMutableRawPointer?) -> Int32,
    _ data: UnsafeMutableRawPointer?) -> Int32

/// A loaded ELF object (64-bit), read in memory: enough to find its PLT/GOT entries by symbol name.
struct ELFObject {
    var name: String
    var base: UInt
    var phdr: UnsafeRawPointer
    var phnum: Int

    /// Every loaded object (`dl_iterate_phdr`); the executable's name is empty.
    static func loaded() -> [ELFObject] {
        var out: [ELFObject] = []
        _ = withUnsafeMutablePointer(to: &out) { list in
            c_dl_iterate_phdr({ info, _, data in
                // struct dl_phdr_info: dlpi_addr, dlpi_name, dlpi_phdr, dlpi_phnum (x86-64/aarch64 layout).
                guard let info, let data else { return 0 }
                let base = info.load(as: UInt.self)
                let namePointer = info.load(fromByteOffset: 8, as: UnsafePointer<CChar>?.self)
                guard let phdr = info.load(fromByteOffset: 16, as: UnsafeRawPointer?.self) else { return 0 }
                let phnum = Int(info.load(fromByteOffset: 24, as: UInt16.self))
                let list = data.assumingMemoryBound(to: [ELFObject].self)
                list.pointee.append(ELFObject(name: namePointer.map { String(cString: $0) } ?? "", base: base,
                                              phdr: phdr, phnum: phnum))
                return 0
            }, UnsafeMutableRawPointer(list))
        }
        return out
    }

    #if arch(x86_64)
    static let tableRelocations: [UInt64] = [7, 6]        // R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT
    #elseif arch(arm64)
    static let tableRelocations: [UInt64] = [1026, 1025]  // R_AARCH64_JUMP_SLOT, R_AARCH64_GLOB_DAT
    #else
    static let tableRelocations: [UInt64] = []
    #endif

    /// (symbol, entry address) of every JUMP_SLOT and GLOB_DAT relocation: the table entries through
    /// which the object calls functions of other objects.
    func tableEntries() -> [(String, UnsafeMutablePointer<UnsafeRawPointer?>)] {
        let ptDynamic: UInt32 = 2
        var dynamic: UnsafeRawPointer?
        for i in 0..<phnum {
            let p = phdr + i * 56  // Elf64_Phdr
            if p.load(as: UInt32.self) == ptDynamic {
                dynamic = UnsafeRawPointer(bitPattern: base &+ p.load(fromByteOffset: 16, as: UInt.self))
            }
        }
        guard var d = dynamic else { return [] }
        var strtab: UInt = 0, symtab: UInt = 0, rela: UInt = 0, relaSize = 0, jmprel: UInt = 0, jmprelSize = 0
        while true {
            let tag = d.load(as: Int64.self), value = d.load(fromByteOffset: 8, as: UInt.self)
            if tag == 0 { break }
            switch tag {
            case 5: strtab = value
            case 6: symtab = value
            case 7: rela = value
            case 8: relaSize = Int(value)
            case 23: jmprel = value
            case 2: jmprelSize = Int(value)
            default: break
            }
            d += 16
        }
        // glibc stores these as run-time addresses; a plain file offset is below the load base.
        func absolute(_ v: UInt) -> UInt { v != 0 && v < base ? base &+ v : v }
        strtab = absolute(strtab); symtab = absolute(symtab); rela = absolute(rela); jmprel = absolute(jmprel)
        guard strtab != 0, symtab != 0 else { return [] }
        var out: [(String, UnsafeMutablePointer<UnsafeRawPointer?>)] = []
        for (table, size) in [(rela, relaSize), (jmprel, jmprelSize)] where table != 0 && size > 0 {
            for k in 0..<(size / 24) {  // Elf64_Rela
                guard let r = UnsafeRawPointer(bitPattern: table + UInt(k * 24)) else { continue }
                let offset = r.load(as: UInt.self), info = r.load(fromByteOffset: 8, as: UInt64.self)
                let type = info & 0xFFFF_FFFF, symbol = Int(info >> 32)
                guard ELFObject.tableRelocations.contains(type), symbol != 0,
                      let sym = UnsafeRawPointer(bitPattern: symtab + UInt(symbol * 24)),  // Elf64_Sym
                      let name = UnsafePointer<CChar>(bitPattern: strtab + UInt(sym.load(as: UInt32.self))),
                      let entry = UnsafeMutablePointer<UnsafeRawPointer?>(bitPattern: base &+ offset) else { continue }
                out.append((String(cString: name), entry))
            }
        }
        return out
    }
}
#endif

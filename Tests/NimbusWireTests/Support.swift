// Shared helpers for the NimbusWire tests: hex literals, scoped RawBytes, a seeded generator, a naive
// checksum reference and a buffer with a guard page right after the data (so an out-of-bounds read faults).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NimbusWire
import Testing

/// Bytes from a hex string; whitespace, `:` and `|` are ignored (so dumps can be laid out by field).
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace && $0 != ":" && $0 != "|" }
    precondition(digits.count % 2 == 0, "odd number of hex digits in \(text)")
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        guard let b = UInt8(digits[i..<j], radix: 16) else { preconditionFailure("bad hex \(digits[i..<j])") }
        out.append(b)
        i = j
    }
    return out
}

/// Runs `body` over a private, mutable copy of `bytes`. Views must not escape the closure.
func withPacket<R>(_ bytes: [UInt8], _ body: (RawBytes) throws -> R) rethrows -> R {
    var copy = bytes
    return try copy.withUnsafeMutableBytes { try body(RawBytes($0)) }
}

/// The error a throwing wire initialiser raised, or nil when it succeeded.
func wireError(_ bytes: [UInt8], _ parse: (RawBytes) throws -> Void) -> WireError? {
    withPacket(bytes) { raw in
        do {
            try parse(raw)
            return nil
        } catch let error as WireError {
            return error
        } catch {
            Issue.record("not a WireError: \(error)")
            return nil
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

/// RFC 1071 done the obvious way: big-endian 16-bit words, odd byte padded, folded (not complemented).
func naiveSum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt32 {
    var s = UInt64(initial)
    var i = 0
    while i + 1 < bytes.count {
        s += UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1])
        i += 2
    }
    if i < bytes.count { s += UInt64(bytes[i]) << 8 }
    while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
    return UInt32(s)
}

func naiveChecksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 { ~UInt16(naiveSum(bytes, initial: initial)) }

/// Memory whose usable part is followed by a PROT_NONE page. `withTail` places bytes so that they end exactly
/// at the guard page: a parser that reads even one byte past the end of its input crashes the test instead of
/// silently reading a neighbour's memory.
final class GuardedBuffer {
    let capacity: Int
    private let region: UnsafeMutableRawPointer
    private let regionSize: Int
    private let guardOffset: Int

    init(capacity: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let dataPages = max(1, (capacity + page - 1) / page)
        self.capacity = dataPages * page
        regionSize = (dataPages + 1) * page
        guard let p = mmap(nil, regionSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != UnsafeMutableRawPointer(bitPattern: -1) else { fatalError("mmap failed") }
        region = p
        guardOffset = dataPages * page
        precondition(mprotect(region + guardOffset, page, PROT_NONE) == 0, "mprotect failed")
    }

    deinit { munmap(region, regionSize) }

    /// Copies `bytes` to end at the guard page, optionally `slack` bytes earlier, and runs `body` over them.
    func withTail<R>(_ bytes: [UInt8], slack: Int = 0, _ body: (RawBytes) throws -> R) rethrows -> R {
        precondition(bytes.count + slack <= capacity)
        let start = region + (guardOffset - slack - bytes.count)
        bytes.withUnsafeBytes { src in
            if let b = src.baseAddress { start.copyMemory(from: b, byteCount: src.count) }
        }
        return try body(RawBytes(base: start, count: bytes.count))
    }
}

// Well-known test values used by several files.
let macA = MACAddress(0x02, 0x00, 0x00, 0x00, 0x00, 0x0A)
let macB = MACAddress(0x02, 0x00, 0x00, 0x00, 0x00, 0x0B)
let ip10_1 = IPv4Address(10, 0, 0, 1)
let ip10_2 = IPv4Address(10, 0, 0, 2)

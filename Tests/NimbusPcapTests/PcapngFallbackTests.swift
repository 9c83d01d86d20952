// CaptureReader on pcapng files libpcap 1.10 refuses part-way (interfaces with different link types or
// snapshot lengths): the built-in fallback reader continues from the right record, in either byte order,
// with each record's own link type and timestamp resolution, and reports errors with the path and record.
import NimbusPcap
import Testing

/// Builds pcapng files block by block, in either byte order.
private struct Pcapng {
    var bigEndian = false
    var bytes: [UInt8] = []

    func u16(_ v: UInt16) -> [UInt8] {
        bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)]
    }
    func u32(_ v: UInt32) -> [UInt8] {
        let le = le32Bytes(v)
        return bigEndian ? le.reversed() : le
    }
    mutating func block(_ type: UInt32, _ body: [UInt8]) {
        precondition(body.count % 4 == 0)
        let total = UInt32(12 + body.count)
        bytes += u32(type) + u32(total) + body + u32(total)
    }
    mutating func sectionHeader() {
        block(0x0A0D_0D0A, u32(0x1A2B_3C4D) + u16(1) + u16(0) + [UInt8](repeating: 0xFF, count: 8))
    }
    /// An interface; `tsresol` nil leaves the default (microseconds).
    mutating func interface(linkType: UInt16, snaplen: UInt32 = 262_144, tsresol: UInt8? = 9, tsoffset: Int64? = nil) {
        var body = u16(linkType) + u16(0) + u32(snaplen)
        if let tsresol { body += u16(9) + u16(1) + [tsresol, 0, 0, 0] }
        if let tsoffset {                                      // a 64-bit integer in the section's byte order
            let v = UInt64(bitPattern: tsoffset)
            let (high, low) = (u32(UInt32(v >> 32)), u32(UInt32(v & 0xFFFF_FFFF)))
            body += u16(14) + u16(8) + (bigEndian ? high + low : low + high)
        }
        body += u16(0) + u16(0)
        block(1, body)
    }
    mutating func packet(interface: UInt32, timestamp: UInt64, data: [UInt8], originalLength: Int? = nil) {
        var body = u32(interface) + u32(UInt32(timestamp >> 32)) + u32(UInt32(timestamp & 0xFFFF_FFFF))
        body += u32(UInt32(data.count)) + u32(UInt32(originalLength ?? data.count))
        body += data + [UInt8](repeating: 0, count: (4 - data.count % 4) % 4)
        block(6, body)
    }
}

/// Records with their own link type.
private func readAll(_ path: String) throws -> (reader: CaptureReader, records: [(Record, LinkType?)]) {
    let reader = try CaptureReader(path: path)
    var out: [(Record, LinkType?)] = []
    while let r = try reader.next() {
        out.append((Record(timestamp: r.timestamp, bytes: Array(r.bytes), originalLength: r.originalLength), r.linkType))
        #expect(reader.recordNumber == out.count)
    }
    #expect(try reader.next() == nil)
    return (reader, out)
}

@Test(arguments: [false, true])
func mixedLinkTypesAreReadInEitherByteOrder(bigEndian: Bool) throws {
    var f = Pcapng(bigEndian: bigEndian)
    f.sectionHeader()
    f.interface(linkType: 1)                                  // Ethernet, nanoseconds
    f.interface(linkType: 101, tsresol: nil)                  // raw IP, default microseconds
    f.interface(linkType: 1, snaplen: 65535, tsresol: 6)      // Ethernet, other snaplen
    f.packet(interface: 0, timestamp: 1_700_000_000_123_456_789, data: pattern(60, seed: 1))
    f.packet(interface: 1, timestamp: 1_700_000_000_123_457, data: pattern(21, seed: 2), originalLength: 1500)
    f.packet(interface: 2, timestamp: 1_700_000_001_000_001, data: pattern(3, seed: 3))
    f.packet(interface: 0, timestamp: 5, data: [])
    try withTemporaryDirectory { dir in
        let path = dir + "/mixed.pcapng"
        try writeFile(path, f.bytes)
        let (reader, records) = try readAll(path)
        #expect(reader.linkType == .ethernet, "the first interface's link type")
        try #require(records.count == 4)
        #expect(records[0].0 == Record(timestamp: 1_700_000_000_123_456_789, bytes: pattern(60, seed: 1), originalLength: 60))
        #expect(records[0].1 == .ethernet)
        #expect(records[1].0 == Record(timestamp: 1_700_000_000_123_457_000, bytes: pattern(21, seed: 2), originalLength: 1500))
        #expect(records[1].1 == .rawAlt || records[1].1 == .raw)
        #expect(records[2].0 == Record(timestamp: 1_700_000_001_000_001_000, bytes: pattern(3, seed: 3), originalLength: 3))
        #expect(records[2].1 == .ethernet)
        #expect(records[3].0 == Record(timestamp: 5, bytes: [], originalLength: 0))
    }
}

@Test func fallbackTakesOverAfterRecordsLibpcapAlreadyRead() throws {
    // libpcap reads the first two packets, then meets a second interface with another link type.
    var f = Pcapng()
    f.sectionHeader()
    f.interface(linkType: 1)
    f.packet(interface: 0, timestamp: 10, data: [1])
    f.packet(interface: 0, timestamp: 20, data: [2, 2])
    f.interface(linkType: 228)                                // raw IPv4
    f.packet(interface: 1, timestamp: 30, data: [0x45, 3, 3])
    f.packet(interface: 0, timestamp: 40, data: [4, 4, 4, 4])
    try withTemporaryDirectory { dir in
        let path = dir + "/switch.pcapng"
        try writeFile(path, f.bytes)
        let (_, records) = try readAll(path)
        #expect(records.map(\.0.timestamp) == [10, 20, 30, 40])
        #expect(records.map(\.0.bytes) == [[1], [2, 2], [0x45, 3, 3], [4, 4, 4, 4]])
        #expect(records.map(\.1) == [.ethernet, .ethernet, .ipv4, .ethernet])
    }
}

@Test func fallbackErrorsNameThePathAndRecord() throws {
    var f = Pcapng()
    f.sectionHeader()
    f.interface(linkType: 1)
    f.interface(linkType: 113)
    f.packet(interface: 0, timestamp: 1, data: [1, 2, 3, 4])
    f.packet(interface: 5, timestamp: 2, data: [5, 6, 7, 8])  // no such interface
    try withTemporaryDirectory { dir in
        let undeclared = dir + "/undeclared.pcapng"
        try writeFile(undeclared, f.bytes)
        let reader = try CaptureReader(path: undeclared)
        let first = try #require(try reader.next())
        #expect(first.timestamp == 1 && first.linkType == .ethernet)
        let e = try #require(captureError { _ = try reader.next() })
        #expect(e.message.contains(undeclared) && e.message.contains("record 2"), "\(e.message)")

        // The same file cut in the middle of the last block.
        let cut = dir + "/cut.pcapng"
        var g = Pcapng()
        g.sectionHeader()
        g.interface(linkType: 1)
        g.interface(linkType: 113)
        g.packet(interface: 1, timestamp: 1, data: [1, 2, 3, 4])
        g.packet(interface: 0, timestamp: 2, data: pattern(40, seed: 1))
        try writeFile(cut, Array(g.bytes.dropLast(10)))
        let r2 = try CaptureReader(path: cut)
        let one = try #require(try r2.next())
        #expect(one.linkType == .linuxSLL && Array(one.bytes) == [1, 2, 3, 4])
        let e2 = try #require(captureError { _ = try r2.next() })
        #expect(e2.message.contains(cut) && e2.message.contains("record 2"), "\(e2.message)")
    }
}

@Test func fallbackBinaryTimestampResolution() throws {
    // if_tsresol with the top bit set: 2^-20 s units.
    var f = Pcapng()
    f.sectionHeader()
    f.interface(linkType: 1)
    f.interface(linkType: 101, tsresol: 0x80 | 20)
    f.packet(interface: 1, timestamp: 3 << 20 | 1 << 19, data: [1])   // 3.5 s
    try withTemporaryDirectory { dir in
        let path = dir + "/binary.pcapng"
        try writeFile(path, f.bytes)
        let (_, records) = try readAll(path)
        #expect(records.map(\.0.timestamp) == [3_500_000_000])
    }
}

// SOURCE BUG (Sources/NimbusPcap/PcapngFallbackReader.swift, next(), lines 117-118): the conversion to
// nanoseconds, `ts / ups &* 1_000_000_000 &+ (ts % ups) &* 1_000_000_000 / ups`, multiplies the sub-second
// remainder by 10^9 in 64 bits before dividing. For resolutions finer than about 1.8e10 units per second
// (if_tsresol 10^-12 picoseconds, or 2^-35 and finer) the remainder times 10^9 exceeds 2^64 and wraps, so
// the timestamp comes out wrong: 5.123456789012 s in picoseconds reads back as 5.012776324 s instead of
// 5.123456789 s, and 0.999999999999 s as 0.003875820 s. Suggested fix: when `ups` > 10^9, divide instead — `(ts % ups) / (ups / 1_000_000_000)` is
// exact for decimal resolutions — or do the multiplication in 128 bits (`multipliedFullWidth(by:)` then
// `dividingFullWidth(_:)`).
@Test func fallbackPicosecondTimestamps() throws {
    var f = Pcapng()
    f.sectionHeader()
    f.interface(linkType: 1)
    f.interface(linkType: 101, tsresol: 12)                   // picoseconds
    f.packet(interface: 1, timestamp: 5_123_456_789_012, data: [1])
    f.packet(interface: 1, timestamp: 999_999_999_999, data: [2])
    try withTemporaryDirectory { dir in
        let path = dir + "/pico.pcapng"
        try writeFile(path, f.bytes)
        let (_, records) = try readAll(path)
        let got = records.map(\.0.timestamp)
        #expect(got == [5_123_456_789, 999_999_999])
    }
}

// SOURCE BUG (Sources/NimbusPcap/PcapngFallbackReader.swift, next(), IDB option loop lines 87-105 and the
// conversion at line 117): the fallback ignores if_tsoffset (option 14, signed seconds added to every
// timestamp of the interface), which libpcap applies. In a file that switches to the fallback part-way, the
// same interface's timestamps jump: record 1 (libpcap) is 1000.000000007 s, record 2 (fallback) 0.000000008 s.
// Suggested fix: parse option 14 (8 bytes, the section's byte order) into `Interface.offsetSeconds: Int64`
// and add `offsetSeconds * 1_000_000_000` to the converted nanoseconds.
@Test func timestampOffsetIsAppliedTheSameWayBeforeAndAfterTheFallback() throws {
    // if_tsoffset (option 14) adds whole seconds to every timestamp of its interface. libpcap applies it to
    // the records it reads; the same interface's records must not change meaning once the fallback takes over.
    var f = Pcapng()
    f.sectionHeader()
    f.interface(linkType: 1, tsoffset: 1_000)
    f.packet(interface: 0, timestamp: 7, data: [1])
    f.interface(linkType: 113)
    f.packet(interface: 0, timestamp: 8, data: [2])
    try withTemporaryDirectory { dir in
        let path = dir + "/offset.pcapng"
        try writeFile(path, f.bytes)
        let (_, records) = try readAll(path)
        let got = records.map(\.0.timestamp)
        #expect(got == [1_000_000_000_007, 1_000_000_000_008])
    }
}

@Test func mutatedMixedFilesNeverCrash() throws {
    // Seeded byte mutations of a file that goes through libpcap and then the fallback: every outcome is
    // records or a CaptureError naming the file, never a crash.
    var f = Pcapng()
    f.sectionHeader()
    f.interface(linkType: 1)
    f.packet(interface: 0, timestamp: 1, data: pattern(30, seed: 1))
    f.interface(linkType: 101, tsresol: nil)
    f.packet(interface: 1, timestamp: 2, data: pattern(17, seed: 2))
    f.packet(interface: 0, timestamp: 3, data: pattern(5, seed: 3))
    let original = f.bytes
    var state: UInt64 = 0x5EED
    func random(_ n: Int) -> Int {                          // SplitMix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(n))
    }
    try withTemporaryDirectory { dir in
        let path = dir + "/fuzz.pcapng"
        var outcomes = (opened: 0, records: 0, errors: 0)
        for _ in 0..<600 {
            var m = original
            for _ in 0..<(1 + random(4)) {
                let at = 28 + random(m.count - 28)             // keep the section header intact
                m[at] = random(3) == 0 ? [0, 0xFF, 0x7F, 0x80, 1][random(5)] : UInt8(random(256))
            }
            if random(5) == 0 { m = Array(m.prefix(28 + random(m.count - 28))) }
            try writeFile(path, m)
            let error = captureError {
                let r = try CaptureReader(path: path)
                outcomes.opened += 1
                while let rec = try r.next() {
                    outcomes.records += 1
                    _ = Array(rec.bytes)
                }
            }
            if let error {
                #expect(error.message.contains(path), "\(error.message)")
                outcomes.errors += 1
            }
        }
        #expect(outcomes.opened > 0 && outcomes.records > 0 && outcomes.errors > 0, "\(outcomes)")
    }
}

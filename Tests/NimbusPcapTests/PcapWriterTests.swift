// PcapWriter -> file -> CaptureReader: the exact file header, nanosecond timestamps, bytes, record count and
// link type survive the round trip; discard leaves nothing behind.
import NimbusPcap
import Testing

private let packets: [(UInt64, [UInt8])] = [
    (1_700_000_000_123_456_789, pattern(60, seed: 1)),
    (1_700_000_000_123_456_790, pattern(1514, seed: 2)),       // 1 ns later
    (0, pattern(1, seed: 3)),                                   // the epoch, out of order
    (999_999_999, pattern(64, seed: 4)),                        // just below one second
    (1_000_000_000, pattern(2, seed: 5)),                       // exactly one second
    (2_147_483_647_999_999_999, pattern(9000, seed: 6)),        // the last second of a signed 32-bit field
    (1_700_000_001_000_000_000, []),                            // an empty record
]

private func write(_ path: String, linkType: UInt32 = 1) throws -> PcapWriter {
    let w = try PcapWriter(path: path, linkType: linkType)
    for (ts, bytes) in packets {
        try bytes.withUnsafeBytes { try w.write(timestamp: ts, bytes: $0) }
    }
    return w
}

@Test func pcapRoundTripIsNanosecondExact() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/out.pcap"
        let w = try write(path)
        #expect(w.packetCount == packets.count)
        try w.commit()
        let (linkType, records) = try readCapture(path)
        #expect(linkType == .ethernet)
        #expect(records.count == packets.count)
        for (i, (r, p)) in zip(records, packets).enumerated() {
            #expect(r.timestamp == p.0, "record \(i + 1) timestamp")
            #expect(r.bytes == p.1, "record \(i + 1) bytes")
            #expect(r.originalLength == p.1.count, "record \(i + 1) original length")
        }
        #expect(listing(dir) == ["out.pcap"])
    }
}

@Test func pcapFileLayoutIsNanosecondPcap() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/layout.pcap"
        let w = try PcapWriter(path: path)
        try ([0xAA, 0xBB, 0xCC] as [UInt8]).withUnsafeBytes { try w.write(timestamp: 5_000_000_007, bytes: $0) }
        try w.commit()
        let b = try readFile(path)
        #expect(b.count == 24 + 16 + 3)
        // Global header: magic a1b23c4d (nanosecond), version 2.4, zone 0, sigfigs 0, snaplen 262144, Ethernet.
        #expect(Array(b[0..<24]) == hex("4d3cb2a1 0200 0400 00000000 00000000 00000400 01000000"))
        #expect(PcapWriter.snaplen == 262_144)
        // Record header: 5 s, 7 ns, caplen 3, len 3.
        #expect(Array(b[24..<40]) == hex("05000000 07000000 03000000 03000000"))
        #expect(Array(b[40...]) == [0xAA, 0xBB, 0xCC])
    }
}

@Test func pcapOtherLinkTypes() throws {
    try withTemporaryDirectory { dir in
        // LINKTYPE_RAW (101) is reported by libpcap as DLT_RAW.
        let raw = dir + "/raw.pcap"
        try write(raw, linkType: 101).commit()
        let (lt, records) = try readCapture(raw)
        #expect(lt == .raw || lt == .rawAlt)
        #expect(lt.name == "raw")
        #expect(records.count == packets.count)
        let sll = dir + "/sll.pcap"
        try write(sll, linkType: 113).commit()
        #expect(try readCapture(sll).linkType == .linuxSLL)
        let sll2 = dir + "/sll2.pcap"
        try write(sll2, linkType: 276).commit()
        #expect(try readCapture(sll2).linkType == .linuxSLL2)
        let null = dir + "/null.pcap"
        try write(null, linkType: 0).commit()
        #expect(try readCapture(null).linkType == .null)
    }
}

@Test func pcapEmptyCapture() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/empty.pcap"
        let w = try PcapWriter(path: path)
        #expect(w.packetCount == 0)
        try w.commit()
        #expect(try readFile(path).count == 24)
        let (lt, records) = try readCapture(path)
        #expect(lt == .ethernet && records.isEmpty)
    }
}

@Test func pcapDiscardLeavesNothing() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/gone.pcap"
        let w = try write(path)
        #expect(!fileExists(path))
        #expect(listing(dir).count == 1, "only the hidden temporary file: \(listing(dir))")
        w.discard()
        #expect(!fileExists(path))
        #expect(listing(dir).isEmpty)
    }
}

@Test func pcapWriterDroppedUncommittedLeavesNothing() throws {
    try withTemporaryDirectory { dir in
        do {
            _ = try write(dir + "/dropped.pcap")
        }
        #expect(listing(dir).isEmpty)
    }
}

// Regression: before c856623 (at 3d14f2d) CaptureReader.next() computed `max(0, hdr.ts.tv_sec)`. libpcap 1.10 hands the
// unsigned 32-bit seconds of a pcap record over through a signed 32-bit field, so every time from
// 2038-01-19T03:14:08Z on came back as 0 s (a file PcapWriter wrote at 4_000_000_000 s read back as 1 ns).
// c856623 reinterprets tv_sec as unsigned 32-bit; this keeps it fixed (but see
// pcapngTimestampsBeyond32BitSeconds for what that change broke).
@Test func pcapTimestampsAfter2038RoundTrip() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/y2038.pcap"
        let w = try PcapWriter(path: path)
        let stamps: [UInt64] = [2_147_483_648_000_000_000, 4_000_000_000_000_000_001, 4_294_967_295_999_999_999]
        for ts in stamps {
            try ([1, 2, 3] as [UInt8]).withUnsafeBytes { try w.write(timestamp: ts, bytes: $0) }
        }
        try w.commit()
        // The seconds are on disk as unsigned 32-bit values.
        let b = try readFile(path)
        #expect(le32(b, 24) == 2_147_483_648 && le32(b, 24 + 19) == 4_000_000_000 && le32(b, 24 + 38) == UInt32.max)
        let records = try readCapture(path).records
        #expect(records.map(\.timestamp) == stamps)
    }
}

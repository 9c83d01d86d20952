// PcapngWriter: libpcap reads the packets and nanosecond timestamps back; the blocks (SHB, one IDB per
// interface with if_name and if_tsresol, EPBs with a comment option) are checked byte by byte; and, when
// tshark is installed, Wireshark's dissector shows the same comments and interface names.
import Foundation
import NimbusPcap
import Testing

private let interfaces = ["port-a", "web-1", "internet"]
private let packets: [(interface: Int, timestamp: UInt64, bytes: [UInt8], comment: String)] = [
    (0, 1_700_000_000_123_456_789, pattern(60, seed: 1), "ttl-exceeded"),
    (1, 1_700_000_000_123_456_790, pattern(1, seed: 2), "no-route"),
    (2, 5, pattern(2, seed: 3), "x"),
    (0, 1_000_000_000, pattern(3, seed: 4), "abcd"),
    (1, 0xFFFF_FFFF, pattern(4, seed: 5), "abcde"),
    (2, 0x1_0000_0000, pattern(5, seed: 6), "security-group: deny (web) — é"),
    (0, 1_700_000_002_000_000_000, pattern(1514, seed: 7), String(repeating: "long comment ", count: 40)),
    (1, 4_000_000_000_000_000_001, pattern(9000, seed: 8), "after 2038: 64-bit timestamps"),
]

private func writeSample(_ path: String) throws {
    let w = try PcapngWriter(path: path, interfaces: interfaces)
    for p in packets {
        try p.bytes.withUnsafeBytes {
            try w.write(interface: p.interface, timestamp: p.timestamp, bytes: $0, comment: p.comment)
        }
    }
    #expect(w.packetCount == packets.count)
    try w.commit()
}

@Test func libpcapReadsPcapngBack() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/drops.pcapng"
        try writeSample(path)
        let (linkType, records) = try readCapture(path)
        #expect(linkType == .ethernet)
        #expect(records.count == packets.count)
        for (i, (r, p)) in zip(records, packets).enumerated() {
            #expect(r.timestamp == p.timestamp, "record \(i + 1)")
            #expect(r.bytes == p.bytes, "record \(i + 1)")
            #expect(r.originalLength == p.bytes.count, "record \(i + 1)")
        }
        #expect(listing(dir) == ["drops.pcapng"])
    }
}

/// A pcapng block: type and body (between the leading and trailing lengths).
private struct Block {
    var type: UInt32
    var body: [UInt8]
}

/// Splits a little-endian pcapng file into blocks, checking the framing of each.
private func blocks(_ b: [UInt8]) throws -> [Block] {
    var out: [Block] = []
    var at = 0
    while at < b.count {
        try #require(at + 12 <= b.count, "block header at \(at) runs past the end")
        let type = le32(b, at), length = Int(le32(b, at + 4))
        try #require(length >= 12 && length % 4 == 0 && at + length <= b.count, "bad block length \(length) at \(at)")
        #expect(Int(le32(b, at + length - 4)) == length, "trailing length of the block at \(at)")
        out.append(Block(type: type, body: Array(b[(at + 8)..<(at + length - 4)])))
        at += length
    }
    return out
}

/// Options as (code, value) until opt_endofopt, checking the padding; the flag tells whether it was present.
private func options(_ b: [UInt8], from start: Int) throws -> (options: [(UInt16, [UInt8])], ended: Bool) {
    var out: [(UInt16, [UInt8])] = []
    var at = start
    while at + 4 <= b.count {
        let code = le16(b, at), length = Int(le16(b, at + 2))
        if code == 0 {
            #expect(length == 0)
            #expect(at + 4 == b.count, "nothing after opt_endofopt")
            return (out, true)
        }
        let padded = (length + 3) & ~3
        try #require(at + 4 + padded <= b.count, "option \(code) runs past the block")
        out.append((code, Array(b[(at + 4)..<(at + 4 + length)])))
        #expect(b[(at + 4 + length)..<(at + 4 + padded)].allSatisfy { $0 == 0 }, "option padding is zero")
        at += 4 + padded
    }
    return (out, false)
}

@Test func pcapngBlocksAreWellFormed() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/blocks.pcapng"
        try writeSample(path)
        let all = try blocks(try readFile(path))
        try #require(all.count == 1 + interfaces.count + packets.count)

        // Section header: byte-order magic, version 1.0, section length unknown (-1), no options.
        #expect(all[0].type == 0x0A0D_0D0A)
        #expect(all[0].body == hex("4d3c2b1a 0100 0000 ffffffffffffffff"))

        // One interface description per port: Ethernet, snaplen, if_name, if_tsresol = 9 (nanoseconds).
        for (i, name) in interfaces.enumerated() {
            let idb = all[1 + i]
            #expect(idb.type == 1)
            #expect(le16(idb.body, 0) == 1, "link type Ethernet")
            #expect(le16(idb.body, 2) == 0)
            #expect(le32(idb.body, 4) == PcapWriter.snaplen)
            let (opts, ended) = try options(idb.body, from: 8)
            #expect(ended)
            #expect(opts.count == 2)
            #expect(opts.first?.0 == 2 && opts.first?.1 == Array(name.utf8), "if_name of \(name)")
            #expect(opts.last?.0 == 9 && opts.last?.1 == [9], "if_tsresol")
        }

        // Enhanced packet blocks.
        for (i, p) in packets.enumerated() {
            let epb = all[1 + interfaces.count + i]
            #expect(epb.type == 6)
            #expect(le32(epb.body, 0) == UInt32(p.interface), "packet \(i) interface")
            let ts = UInt64(le32(epb.body, 4)) << 32 | UInt64(le32(epb.body, 8))
            #expect(ts == p.timestamp, "packet \(i) timestamp")
            #expect(Int(le32(epb.body, 12)) == p.bytes.count, "captured length")
            #expect(Int(le32(epb.body, 16)) == p.bytes.count, "original length")
            let padded = (p.bytes.count + 3) & ~3
            #expect(Array(epb.body[20..<(20 + p.bytes.count)]) == p.bytes)
            #expect(epb.body[(20 + p.bytes.count)..<(20 + padded)].allSatisfy { $0 == 0 })
            let (opts, ended) = try options(epb.body, from: 20 + padded)
            #expect(ended)
            #expect(opts.count == 1)
            #expect(opts.first?.0 == 1, "opt_comment")
            #expect(opts.first?.1 == Array(p.comment.utf8), "packet \(i) comment bytes")
        }
    }
}

@Test func pcapngWithoutPacketsOrWithAnEmptyComment() throws {
    try withTemporaryDirectory { dir in
        let empty = dir + "/empty.pcapng"
        let w = try PcapngWriter(path: empty, interfaces: ["only"])
        try w.commit()
        let (lt, records) = try readCapture(empty)
        #expect(lt == .ethernet && records.isEmpty)
        #expect(try blocks(try readFile(empty)).map(\.type) == [0x0A0D_0D0A, 1])

        let blank = dir + "/blank-comment.pcapng"
        let v = try PcapngWriter(path: blank, interfaces: ["only"])
        try ([1, 2, 3, 4, 5, 6, 7, 8] as [UInt8]).withUnsafeBytes { try v.write(interface: 0, timestamp: 42, bytes: $0, comment: "") }
        try v.commit()
        let read = try readCapture(blank)
        #expect(read.records == [Record(timestamp: 42, bytes: [1, 2, 3, 4, 5, 6, 7, 8], originalLength: 8)])
        let epb = try #require(try blocks(try readFile(blank)).last)
        #expect(epb.type == 6)
        #expect(epb.body.count == 20 + 8 + 4 + 4, "an empty comment option, then opt_endofopt")
    }
}

@Test func pcapngDiscardLeavesNothing() throws {
    try withTemporaryDirectory { dir in
        let w = try PcapngWriter(path: dir + "/x.pcapng", interfaces: interfaces)
        try ([1] as [UInt8]).withUnsafeBytes { try w.write(interface: 0, timestamp: 1, bytes: $0, comment: "c") }
        w.discard()
        #expect(listing(dir).isEmpty)
    }
}

@Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark"), "/usr/bin/tshark is not installed"))
func tsharkSeesCommentsAndInterfaceNames() throws {
    let tshark = "/usr/bin/tshark"
    try withTemporaryDirectory { dir in
        let path = dir + "/tshark.pcapng"
        try writeSample(path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tshark)
        process.arguments = ["-r", path, "-T", "fields", "-E", "separator=/t", "-e", "frame.comment",
                             "-e", "frame.interface_name", "-e", "frame.time_epoch"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "tshark: \(String(decoding: stderr, as: UTF8.self))")
        let lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        try #require(lines.count == packets.count, "tshark output:\n\(String(decoding: stdout, as: UTF8.self))")
        for (line, p) in zip(lines, packets) {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            try #require(fields.count == 3, "\(line)")
            #expect(fields[0] == p.comment)
            #expect(fields[1] == interfaces[p.interface])
            // frame.time_epoch has nanosecond digits: seconds.nnnnnnnnn
            let expectedTime = "\(p.timestamp / 1_000_000_000)." + {
                let ns = String(p.timestamp % 1_000_000_000)
                return String(repeating: "0", count: 9 - ns.count) + ns
            }()
            #expect(fields[2] == expectedTime, "timestamp of \(p.comment)")
        }
    }
}

// SOURCE BUG (Sources/NimbusPcap/PcapReader.swift, CaptureReader.next(), line 97, introduced by c856623):
// `let seconds = UInt64(UInt32(truncatingIfNeeded: hdr.ts.tv_sec))` fixes classic pcap after 2038 but truncates
// every timestamp to 32-bit seconds. pcapng records carry 64-bit timestamps, which libpcap converts into a
// 64-bit, non-negative tv_sec; from 2106-02-07T06:28:16Z on they now wrap (4_294_967_296 s reads back as 0,
// 5_000_000_000 s as 705_032_704 s), although PcapngWriter wrote them exactly. Suggested fix: reinterpret
// only a negative value (which can only come from a pcap file's 32-bit field):
// `let seconds = hdr.ts.tv_sec < 0 ? UInt64(UInt32(truncatingIfNeeded: hdr.ts.tv_sec)) : UInt64(hdr.ts.tv_sec)`.
@Test func pcapngTimestampsBeyond32BitSeconds() throws {
    // pcapng carries 64-bit nanosecond timestamps; seconds above 2^32 (after 2106-02-07) must survive too.
    try withTemporaryDirectory { dir in
        let path = dir + "/far.pcapng"
        let w = try PcapngWriter(path: path, interfaces: ["p"])
        let stamps: [UInt64] = [4_294_967_295_999_999_999, 4_294_967_296_000_000_000, 5_000_000_000_123_456_789]
        for ts in stamps {
            try ([1, 2, 3] as [UInt8]).withUnsafeBytes { try w.write(interface: 0, timestamp: ts, bytes: $0, comment: "t") }
        }
        try w.commit()
        let got = try readCapture(path).records.map(\.timestamp)
        #expect(got == stamps)
    }
}

// CaptureReader errors: a truncated record names the file and the record; a file that is not a capture, an
// empty file, a missing file and an unsupported link type make init throw with the path.
import NimbusPcap
import Testing

/// A classic microsecond pcap header (snaplen 65535, Ethernet).
private let pcapHeader = hex("d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000")

private func recordHeader(sec: UInt32, usec: UInt32, caplen: UInt32, len: UInt32) -> [UInt8] {
    le32Bytes(sec) + le32Bytes(usec) + le32Bytes(caplen) + le32Bytes(len)
}

@Test func truncatedRecordNamesFileAndRecord() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/truncated.pcap"
        try writeFile(path, pcapHeader + recordHeader(sec: 1, usec: 2, caplen: 100, len: 100) + pattern(10, seed: 9))
        let reader = try CaptureReader(path: path)
        #expect(reader.linkType == .ethernet)
        #expect(reader.path == path)
        let error = try #require(captureError { _ = try reader.next() })
        #expect(error.message.contains(path), "\(error.message)")
        #expect(error.message.contains("record 1"), "\(error.message)")
        #expect(reader.recordNumber == 0)
    }
}

@Test func truncationAfterAGoodRecordNamesTheSecondRecord() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/second.pcap"
        try writeFile(path, pcapHeader
                      + recordHeader(sec: 7, usec: 500_000, caplen: 4, len: 60) + [1, 2, 3, 4]
                      + recordHeader(sec: 8, usec: 0, caplen: 100, len: 100) + pattern(10, seed: 1))
        let reader = try CaptureReader(path: path)
        let first = try #require(try reader.next())
        // A microsecond file is read with nanosecond precision.
        #expect(first.timestamp == 7_500_000_000)
        #expect(Array(first.bytes) == [1, 2, 3, 4])
        #expect(first.originalLength == 60)
        #expect(reader.recordNumber == 1)
        let error = try #require(captureError { _ = try reader.next() })
        #expect(error.message.contains(path) && error.message.contains("record 2"), "\(error.message)")
    }
}

@Test func truncatedRecordHeaderThrows() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/short-header.pcap"
        try writeFile(path, pcapHeader + [1, 2, 3, 4, 5])
        let reader = try CaptureReader(path: path)
        let error = try #require(captureError { _ = try reader.next() })
        #expect(error.message.contains(path) && error.message.contains("record 1"), "\(error.message)")
    }
}

@Test func notACaptureThrowsWithThePath() throws {
    try withTemporaryDirectory { dir in
        let text = dir + "/notes.txt"
        try writeFile(text, Array("this is not a capture file, just some text\n".utf8))
        let e1 = try #require(captureError { _ = try CaptureReader(path: text) })
        #expect(e1.message.contains(text), "\(e1.message)")

        let empty = dir + "/empty.pcap"
        try writeFile(empty, [])
        let e2 = try #require(captureError { _ = try CaptureReader(path: empty) })
        #expect(e2.message.contains(empty), "\(e2.message)")

        let half = dir + "/half-header.pcap"
        try writeFile(half, Array(pcapHeader.prefix(12)))
        let e3 = try #require(captureError { _ = try CaptureReader(path: half) })
        #expect(e3.message.contains(half), "\(e3.message)")
    }
}

@Test func missingFileThrowsWithThePath() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/does-not-exist.pcap"
        let e = try #require(captureError { _ = try CaptureReader(path: path) })
        #expect(e.message.contains(path), "\(e.message)")
        #expect(e.description == e.message)
    }
}

@Test func unsupportedLinkTypeThrowsWithThePath() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/usb.pcap"
        let w = try PcapWriter(path: path, linkType: 189)          // LINKTYPE_USB_LINUX
        try ([0, 1, 2] as [UInt8]).withUnsafeBytes { try w.write(timestamp: 1, bytes: $0) }
        try w.commit()
        let e = try #require(captureError { _ = try CaptureReader(path: path) })
        #expect(e.message.contains(path), "\(e.message)")
        #expect(e.message.contains("unsupported link type"), "\(e.message)")
        #expect(e.message.contains("189"), "\(e.message)")
    }
}

@Test func linkTypeNames() {
    #expect(LinkType.ethernet.name == "ethernet")
    #expect(LinkType.null.name == "null")
    #expect(LinkType.raw.name == "raw" && LinkType.rawAlt.name == "raw")
    #expect(LinkType.linuxSLL.name == "linux-sll" && LinkType.linuxSLL2.name == "linux-sll2")
    #expect(LinkType.loop.name == "loop" && LinkType.ipv4.name == "ipv4" && LinkType.ipv6.name == "ipv6")
    #expect(LinkType(rawValue: 1) == .ethernet && LinkType(rawValue: 276) == .linuxSLL2)
    #expect(LinkType(rawValue: 189) == nil)
    #expect(Set(LinkType.allCases.map(\.rawValue)).count == LinkType.allCases.count)
}

/// Writes classic pcap files (Ethernet, nanosecond timestamps), completely or not at all.
public final class PcapWriter {
    private let file: AtomicOutputFile
    @exclusivity(unchecked) public private(set) var packetCount = 0
    public static let snaplen: UInt32 = 262_144

    public init(path: String, linkType: UInt32 = 1) throws(CaptureError) {
        file = try AtomicOutputFile(path: path)
        try file.writeLE32(0xA1B2_3C4D)  // nanosecond-resolution magic
        try file.writeLE16(2)
        try file.writeLE16(4)
        try file.writeLE32(0)            // thiszone
        try file.writeLE32(0)            // sigfigs
        try file.writeLE32(PcapWriter.snaplen)
        try file.writeLE32(linkType)
    }

    public func write(timestamp: UInt64, bytes: UnsafeRawBufferPointer) throws(CaptureError) {
        try file.writeRecordHeader(UInt32(truncatingIfNeeded: timestamp / 1_000_000_000), UInt32(timestamp % 1_000_000_000),
                                   UInt32(bytes.count), UInt32(bytes.count))
        try file.write(bytes)
        packetCount += 1
    }

    public func commit() throws(CaptureError) { try file.commit() }
    public func discard() { file.discard() }
}

/// Writes pcapng files: one interface per port (named after it, nanosecond timestamps) and a comment on
/// each packet — how `drops.pcapng` carries every drop's reason where Wireshark shows it.
public final class PcapngWriter {
    private var file: AtomicOutputFile
    public private(set) var packetCount = 0

    public init(path: String, interfaces: [String]) throws(CaptureError) {
        file = try AtomicOutputFile(path: path)
        // Section header block.
        try block(type: 0x0A0D_0D0A, body: [0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 8))
        for name in interfaces {
            var body: [UInt8] = [1, 0, 0, 0]  // link type Ethernet, reserved
            body += le32(PcapWriter.snaplen)
            body += option(2, Array(name.utf8))   // if_name
            body += option(9, [9])                // if_tsresol: 10^-9
            body += [0, 0, 0, 0]                  // opt_endofopt
            try block(type: 1, body: body)
        }
    }

    public func write(interface: Int, timestamp: UInt64, bytes: UnsafeRawBufferPointer,
                               comment: String) throws(CaptureError) {
        let commentBytes = Array(comment.utf8)
        let padded = (bytes.count + 3) & ~3
        let optionsLength = 4 + ((commentBytes.count + 3) & ~3) + 4
        let total = 12 + 20 + padded + optionsLength
        try file.writeLE32(6)
        try file.writeLE32(UInt32(total))
        try file.writeLE32(UInt32(interface))
        try file.writeLE32(UInt32(truncatingIfNeeded: timestamp >> 32))
        try file.writeLE32(UInt32(truncatingIfNeeded: timestamp))
        try file.writeLE32(UInt32(bytes.count))
        try file.writeLE32(UInt32(bytes.count))
        try file.write(bytes)
        try file.write([UInt8](repeating: 0, count: padded - bytes.count))
        try file.write(option(1, commentBytes) + [0, 0, 0, 0])
        try file.writeLE32(UInt32(total))
        packetCount += 1
    }

    public func commit() throws(CaptureError) { try file.commit() }
    public func discard() { file.discard() }

    private func block(type: UInt32, body: [UInt8]) throws(CaptureError) {
        let total = UInt32(12 + body.count)
        try file.writeLE32(type)
        try file.writeLE32(total)
        try file.write(body)
        try file.writeLE32(total)
    }

    private func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    private func option(_ code: UInt16, _ value: [UInt8]) -> [UInt8] {
        // An option's length field has 16 bits; a longer value is cut (comments are for people).
        let value = value.count > 65532 ? Array(value.prefix(65532)) : value
        var out = withUnsafeBytes(of: code.littleEndian) { Array($0) }
        out += withUnsafeBytes(of: UInt16(value.count).littleEndian) { Array($0) }
        out += value
        out += [UInt8](repeating: 0, count: ((value.count + 3) & ~3) - value.count)
        return out
    }
}

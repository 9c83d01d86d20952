/// A view of an ICMP (v4) message header (RFC 792): type, code, checksum and the 4-byte rest-of-header.
@frozen
public struct ICMPHeader {
    public static let length = 8
    public static let echoReply: UInt8 = 0
    public static let destinationUnreachable: UInt8 = 3
    public static let echoRequest: UInt8 = 8
    public static let timeExceeded: UInt8 = 11
    public let bytes: RawBytes

    @inlinable
    public init(_ bytes: RawBytes) throws(WireError) {
        guard bytes.count >= 8 else { throw .truncated }
        self.bytes = bytes
    }

    /// Wraps bytes already known to hold the 8-byte header.
    @inlinable public init(unchecked bytes: RawBytes) { self.bytes = bytes }

    @inlinable public var type: UInt8 { bytes.u8(0) }
    @inlinable public var code: UInt8 { bytes.u8(1) }
    @inlinable public var checksum: UInt16 { bytes.u16(2) }
    /// Echo identifier (for echo request/reply).
    @inlinable public var identifier: UInt16 { bytes.u16(4) }
    @inlinable public var sequence: UInt16 { bytes.u16(6) }
    @inlinable public var isError: Bool { ICMPHeader.isError(type: type) }
    /// Destination unreachable, source quench, redirect, time exceeded, parameter problem: the types that
    /// quote the datagram they are about.
    @inlinable public static func isError(type: UInt8) -> Bool { type == 3 || type == 4 || type == 5 || type == 11 || type == 12 }
    @inlinable public var isEcho: Bool { type == 0 || type == 8 }
    /// The message's data (for errors: the offending datagram's IP header and first bytes).
    @inlinable public var body: RawBytes { bytes.suffix(from: 8) }
    @inlinable public var isChecksumValid: Bool { InternetChecksum.verify(bytes) }

    /// Rewrites the echo identifier, patching the checksum (RFC 1624).
    @inlinable public func setIdentifier(_ id: UInt16) {
        bytes.setU16(2, InternetChecksum.update(checksum, old: identifier, new: id))
        bytes.setU16(4, id)
    }

    @inlinable public func updateChecksum() {
        bytes.setU16(2, 0)
        bytes.setU16(2, InternetChecksum.compute(bytes))
    }
}

/// A view of an ICMPv6 message header (RFC 4443).
@frozen
public struct ICMPv6Header {
    public static let echoRequest: UInt8 = 128
    public static let echoReply: UInt8 = 129
    public let bytes: RawBytes

    @inlinable
    public init(_ bytes: RawBytes) throws(WireError) {
        guard bytes.count >= 4 else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var type: UInt8 { bytes.u8(0) }
    @inlinable public var code: UInt8 { bytes.u8(1) }
    @inlinable public var checksum: UInt16 { bytes.u16(2) }
    /// Types below 128 are errors.
    @inlinable public var isError: Bool { type < 128 }
}

/// A view of a UDP header (RFC 768). The length field must cover the header and fit the bytes.
@frozen
public struct UDPHeader {
    public static let length = 8
    public static let checksumOffset = 6
    public let bytes: RawBytes

    @inlinable
    public init(_ bytes: RawBytes) throws(WireError) {
        guard bytes.count >= 8 else { throw .truncated }
        let len = Int(bytes.u16(4))
        guard len >= 8 else { throw .badLength }
        guard len <= bytes.count else { throw .truncated }
        self.bytes = bytes.prefix(len)
    }

    @inlinable public var sourcePort: UInt16 { bytes.u16(0) }
    @inlinable public var destinationPort: UInt16 { bytes.u16(2) }
    @inlinable public var length: Int { Int(bytes.u16(4)) }
    @inlinable public var checksum: UInt16 { bytes.u16(6) }
    @inlinable public var payload: RawBytes { bytes.suffix(from: 8) }

    /// Verifies the checksum over the IPv4 pseudo-header; a zero checksum means "not computed" in IPv4.
    @inlinable public func isChecksumValid(source: IPv4Address, destination: IPv4Address) -> Bool {
        if checksum == 0 { return true }
        let ph = InternetChecksum.pseudoHeaderSum(source: source, destination: destination,
                                                  protocol: IPProtocol.udp, length: length)
        return InternetChecksum.verify(bytes, initial: ph)
    }
}

/// A view of a TCP header (RFC 9293), options included.
@frozen
public struct TCPHeader {
    public static let minimumLength = 20
    public static let checksumOffset = 16
    public static let fin: UInt8 = 0x01
    public static let syn: UInt8 = 0x02
    public static let rst: UInt8 = 0x04
    public static let psh: UInt8 = 0x08
    public static let ack: UInt8 = 0x10
    public static let urg: UInt8 = 0x20
    public let bytes: RawBytes

    @inlinable
    public init(_ bytes: RawBytes) throws(WireError) {
        guard bytes.count >= 20 else { throw .truncated }
        let hl = Int(bytes.u8(12) >> 4) * 4
        guard hl >= 20 else { throw .badLength }
        guard hl <= bytes.count else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var sourcePort: UInt16 { bytes.u16(0) }
    @inlinable public var destinationPort: UInt16 { bytes.u16(2) }
    @inlinable public var sequenceNumber: UInt32 { bytes.u32(4) }
    @inlinable public var acknowledgmentNumber: UInt32 { bytes.u32(8) }
    @inlinable public var headerLength: Int { Int(bytes.u8(12) >> 4) * 4 }
    @inlinable public var flags: UInt8 { bytes.u8(13) }
    @inlinable public var window: UInt16 { bytes.u16(14) }
    @inlinable public var checksum: UInt16 { bytes.u16(16) }
    @inlinable public var urgentPointer: UInt16 { bytes.u16(18) }
    @inlinable public var options: RawBytes { RawBytes(base: bytes.base + 20, count: headerLength - 20) }
    @inlinable public var payload: RawBytes { bytes.suffix(from: headerLength) }

    @inlinable public func isChecksumValid(source: IPv4Address, destination: IPv4Address) -> Bool {
        let ph = InternetChecksum.pseudoHeaderSum(source: source, destination: destination,
                                                  protocol: IPProtocol.tcp, length: bytes.count)
        return InternetChecksum.verify(bytes, initial: ph)
    }

    /// The options as (kind, data) pairs. Malformed options (a length below 2 or past the end) end the
    /// walk with `.badOptions`.
    public func parsedOptions() throws(WireError) -> [(kind: UInt8, data: [UInt8])] {
        var out: [(kind: UInt8, data: [UInt8])] = []
        var it = TCPOptionIterator(options)
        while let o = try it.next() { out.append((o.kind, o.data.array)) }
        return out
    }
}

/// Walks TCP options without copying them. A length below 2 or one that runs past the end throws.
public struct TCPOptionIterator {
    @usableFromInline let options: RawBytes
    @usableFromInline var offset = 0

    @inlinable public init(_ options: RawBytes) { self.options = options }

    @inlinable
    public mutating func next() throws(WireError) -> (kind: UInt8, data: RawBytes)? {
        while offset < options.count {
            let kind = options.u8(offset)
            if kind == 0 { offset = options.count; return nil }  // end of option list
            if kind == 1 { offset += 1; continue }                // no-operation padding
            guard offset + 2 <= options.count else { throw .badOptions }
            let len = Int(options.u8(offset + 1))
            guard len >= 2, offset + len <= options.count else { throw .badOptions }
            let data = RawBytes(base: options.base + offset + 2, count: len - 2)
            offset += len
            return (kind, data)
        }
        return nil
    }
}

/// The datagram an ICMP error quotes: an IPv4 header whose total-length field is the original
/// datagram's (longer than what is quoted), so it is checked field by field rather than against its
/// length, followed by at least `minimumPayload` bytes of the original's payload.
@frozen
public struct QuotedIPv4Datagram {
    /// From the start of the quoted header to the end of the ICMP message.
    public let bytes: RawBytes
    public let headerLength: Int

    /// - Parameter icmpMessage: the whole ICMP message, its 8-byte header included.
    @inlinable
    public init?(icmpMessage: RawBytes, minimumPayload: Int = 8) {
        guard icmpMessage.count >= ICMPHeader.length + 20 else { return nil }
        let q = icmpMessage.suffix(from: ICMPHeader.length)
        guard q.u8(0) >> 4 == 4 else { return nil }
        let hl = Int(q.u8(0) & 0x0F) * 4
        guard hl >= 20, q.count >= hl + minimumPayload else { return nil }
        bytes = q
        headerLength = hl
    }

    @inlinable public var `protocol`: UInt8 { bytes.u8(9) }
    @inlinable public var source: UInt32 { bytes.u32(12) }
    @inlinable public var destination: UInt32 { bytes.u32(16) }
    /// The quoted payload (the start of the original's L4 header).
    @inlinable public var payload: RawBytes { bytes.suffix(from: headerLength) }
}

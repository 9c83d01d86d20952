/// A view of the two ports that open both a TCP and a UDP header (`TransportPorts` has their offsets):
/// all that a flow key, a filter or a dispatcher needs, readable from a first fragment or a quoted
/// header too short for the rest of its protocol's header.
@frozen
public struct TransportPortsView {
    public static let length = TransportPorts.length
    public let bytes: RawBytes

    /// Checks that the four bytes of the two ports are there.
    @inlinable
    public init(_ bytes: RawBytes) throws(WireError) {
        guard bytes.count >= TransportPorts.length else { throw .truncated }
        self.bytes = bytes
    }

    /// Wraps bytes already known to hold the ports (a TCP or UDP header a classifier validated).
    @inlinable public init(unchecked bytes: RawBytes) { self.bytes = bytes }

    @inlinable public var sourcePort: UInt16 { bytes.u16(TransportPorts.sourceOffset) }
    @inlinable public var destinationPort: UInt16 { bytes.u16(TransportPorts.destinationOffset) }
}

extension TCPHeader {
    /// Wraps bytes already validated by the checked initialiser (a classify stage upstream).
    @inlinable public init(unchecked bytes: RawBytes) { self.bytes = bytes }
}

extension UDPHeader {
    /// Wraps bytes already known to hold the 8-byte header. Unlike the checked initialiser it does not
    /// trim `bytes` to the length field, which a first fragment's header may set past the bytes.
    @inlinable public init(unchecked bytes: RawBytes) { self.bytes = bytes }

    /// Recomputes the checksum over the IPv4 pseudo-header and the `length` bytes the length field
    /// covers; a sum of zero is sent as 0xFFFF, since zero means "no checksum" (RFC 768).
    @inlinable
    public func updateChecksum(source: IPv4Address, destination: IPv4Address) {
        let pseudo = InternetChecksum.pseudoHeaderSum(source: source, destination: destination,
                                                      protocol: IPProtocol.udp, length: length)
        bytes.setU16(UDPHeader.checksumOffset, 0)
        let sum = InternetChecksum.compute(bytes.prefix(length), initial: pseudo)
        bytes.setU16(UDPHeader.checksumOffset, sum == 0 ? 0xFFFF : sum)
    }

    /// Writes an 8-byte header in front of a payload already in place (`length` covers header and
    /// payload) and fills in the checksum over the IPv4 pseudo-header of `source` and `destination`.
    @inlinable
    public static func write(to bytes: RawBytes, sourcePort: UInt16, destinationPort: UInt16, length: Int,
                             source: IPv4Address, destination: IPv4Address) {
        bytes.setU16(TransportPorts.sourceOffset, sourcePort)
        bytes.setU16(TransportPorts.destinationOffset, destinationPort)
        bytes.setU16(4, UInt16(length))
        UDPHeader(unchecked: bytes).updateChecksum(source: source, destination: destination)
    }
}

extension ICMPHeader {
    public static let timestampRequest: UInt8 = 13
    public static let timestampReply: UInt8 = 14

    /// The second word of the header: echo identifier and sequence, the next-hop MTU of a
    /// fragmentation-needed error, unused (zero) in most other errors.
    @inlinable public var restOfHeader: UInt32 { bytes.u32(4) }

    /// Rewrites the message type (an echo request into its reply, say), patching the checksum for the
    /// type-and-code word it changes (RFC 1624).
    @inlinable
    public func setType(_ type: UInt8) {
        let oldWord = bytes.u16(0)
        bytes.setU8(0, type)
        bytes.setU16(2, InternetChecksum.update(checksum, old: oldWord, new: bytes.u16(0)))
    }

    /// Writes a whole ICMP message: the 8-byte header (`rest` its second word), `body` copied after
    /// it, and the checksum over both. `bytes` must hold `ICMPHeader.length + body.count` bytes, and
    /// `body` must not overlap them.
    @inlinable
    public static func write(to bytes: RawBytes, type: UInt8, code: UInt8, rest: UInt32 = 0, body: RawBytes) {
        bytes.setU8(0, type)
        bytes.setU8(1, code)
        bytes.setU16(2, 0)
        bytes.setU32(4, rest)
        if body.count > 0 {
            (bytes.base + ICMPHeader.length).copyMemory(from: body.base, byteCount: body.count)
        }
        bytes.setU16(2, InternetChecksum.compute(bytes.prefix(ICMPHeader.length + body.count)))
    }
}

/// Which end of a datagram a rewrite changes.
public enum IPEndpointSide: Sendable, Equatable {
    case source
    case destination

    /// The side a reply carries this side's endpoint on.
    @inlinable public var opposite: IPEndpointSide { self == .source ? .destination : .source }
}

/// Address and port translation of IPv4 datagrams in place: what NAT, load balancing and replay's
/// `--map` do to a packet, written once.
///
/// Every checksum the change touches is patched incrementally (RFC 1624): the IP header's, and the
/// TCP or UDP checksum through its pseudo-header. ICMP has no pseudo-header, so only a changed echo
/// identifier touches its checksum. A UDP checksum of zero means "none" (RFC 768) and stays zero; a
/// patched one that comes out zero is sent as 0xFFFF, its other representation.
public enum IPv4Rewrite {
    /// Rewrites `side`'s address of `ip` and, when `port` is given, the same side's TCP/UDP port or ICMP
    /// echo identifier in `transport` (the datagram's L4 header, as the classifier validated it: a full
    /// TCP, UDP or ICMP header). Pass `transport: nil` for a later fragment, which carries no L4 header:
    /// only the address changes then, and the first fragment's L4 checksum already covers it.
    @inlinable
    public static func rewrite(_ side: IPEndpointSide, of ip: IPv4Header, transport: RawBytes?, protocol proto: UInt8,
                               to address: IPv4Address, port: UInt16?) {
        let old = ip.replaceAddress(side, with: address)
        if let transport {
            patchTransport(transport, protocol: proto, side: side, oldAddress: old, newAddress: address, port: port)
        }
    }

    /// Patches a transport header for an address change on `side` (pseudo-header) and, when `port` is
    /// given, writes that side's port or echo identifier. `l4` must hold the whole fixed header of its
    /// protocol; a quoted TCP header cut short of its checksum has only its ports rewritten.
    @inlinable
    public static func patchTransport(_ l4: RawBytes, protocol proto: UInt8, side: IPEndpointSide,
                                      oldAddress: IPv4Address, newAddress: IPv4Address, port: UInt16?) {
        let portField = side == .source ? TransportPorts.sourceOffset : TransportPorts.destinationOffset
        switch proto {
        case IPProtocol.tcp:
            guard l4.count >= TransportPorts.length else { return }
            let oldPort = l4.u16(portField)
            if let port { l4.setU16(portField, port) }
            guard l4.count >= TCPHeader.checksumOffset + 2 else { return }
            var c = InternetChecksum.update(l4.u16(TCPHeader.checksumOffset), old: oldAddress.value, new: newAddress.value)
            if let port { c = InternetChecksum.update(c, old: oldPort, new: port) }
            l4.setU16(TCPHeader.checksumOffset, c)
        case IPProtocol.udp:
            guard l4.count >= UDPHeader.length else { return }
            let oldPort = l4.u16(portField)
            if let port { l4.setU16(portField, port) }
            let checksum = l4.u16(UDPHeader.checksumOffset)
            guard checksum != 0 else { return }
            var c = InternetChecksum.update(checksum, old: oldAddress.value, new: newAddress.value)
            if let port { c = InternetChecksum.update(c, old: oldPort, new: port) }
            l4.setU16(UDPHeader.checksumOffset, c == 0 ? 0xFFFF : c)
        case IPProtocol.icmp:
            guard let port, l4.count >= ICMPHeader.length else { return }
            ICMPHeader(unchecked: l4).setIdentifier(port)
        default:
            break
        }
    }

    /// Rewrites `side` of the datagram an ICMP error quotes (`icmpMessage` is the whole ICMP message):
    /// its address, with the quoted header's checksum, and its port or echo identifier when `port` is
    /// given, with the quoted L4 checksum where it is quoted. The ICMP checksum itself is left to the
    /// caller (`ICMPHeader.updateChecksum`), since an error usually changes in several places at once.
    /// Returns false, changing nothing, when the message quotes no IPv4 header and 8 bytes of payload.
    @inlinable @discardableResult
    public static func rewriteQuoted(_ side: IPEndpointSide, icmpMessage: RawBytes, to address: IPv4Address,
                                     port: UInt16?) -> Bool {
        guard let quoted = QuotedIPv4Datagram(icmpMessage: icmpMessage) else { return false }
        let old = IPv4Header(unchecked: quoted.bytes).replaceAddress(side, with: address)
        patchTransport(quoted.payload, protocol: quoted.protocol, side: side, oldAddress: old, newAddress: address,
                       port: port)
        return true
    }

    /// Recomputes the TCP or UDP checksum of a datagram in full, over its IPv4 pseudo-header: for
    /// packets whose checksum was never filled in (captured before the NIC's checksum offload). Other
    /// protocols, later fragments, and L4 headers that do not fit are left alone. `ip` must be a whole,
    /// unfragmented datagram for the sum to come out right.
    @inlinable
    public static func recomputeTransportChecksum(_ ip: IPv4Header) {
        guard !ip.isFragment else { return }
        let l4 = ip.payload
        switch ip.protocol {
        case IPProtocol.tcp:
            guard l4.count >= TCPHeader.minimumLength else { return }
            let ph = InternetChecksum.pseudoHeaderSum(source: ip.source, destination: ip.destination,
                                                      protocol: IPProtocol.tcp, length: l4.count)
            l4.setU16(TCPHeader.checksumOffset, 0)
            l4.setU16(TCPHeader.checksumOffset, InternetChecksum.compute(l4, initial: ph))
        case IPProtocol.udp:
            guard l4.count >= UDPHeader.length, Int(l4.u16(4)) <= l4.count, Int(l4.u16(4)) >= UDPHeader.length else { return }
            let udp = l4.prefix(Int(l4.u16(4)))
            let ph = InternetChecksum.pseudoHeaderSum(source: ip.source, destination: ip.destination,
                                                      protocol: IPProtocol.udp, length: udp.count)
            udp.setU16(UDPHeader.checksumOffset, 0)
            let c = InternetChecksum.compute(udp, initial: ph)
            udp.setU16(UDPHeader.checksumOffset, c == 0 ? 0xFFFF : c)
        default:
            break
        }
    }

    /// True when the datagram's TCP or UDP checksum is right (or, for UDP, absent); true for other
    /// protocols and for fragments, whose checksum cannot be judged alone.
    @inlinable
    public static func isTransportChecksumValid(_ ip: IPv4Header) -> Bool {
        guard !ip.isFragment else { return true }
        switch ip.protocol {
        case IPProtocol.tcp:
            guard let tcp = try? TCPHeader(ip.payload) else { return false }
            return tcp.isChecksumValid(source: ip.source, destination: ip.destination)
        case IPProtocol.udp:
            guard let udp = try? UDPHeader(ip.payload) else { return false }
            return udp.isChecksumValid(source: ip.source, destination: ip.destination)
        default:
            return true
        }
    }
}

extension IPv4Header {
    /// Sets `side`'s address, patching the header checksum, and returns the address it replaced.
    @inlinable @discardableResult
    public func replaceAddress(_ side: IPEndpointSide, with address: IPv4Address) -> IPv4Address {
        switch side {
        case .source:
            let old = source
            setSource(address)
            return old
        case .destination:
            let old = destination
            setDestination(address)
            return old
        }
    }
}

/// Where TCP and UDP keep their ports: the first four bytes of both headers.
public enum TransportPorts {
    public static let sourceOffset = 0
    public static let destinationOffset = 2
    public static let length = 4
}

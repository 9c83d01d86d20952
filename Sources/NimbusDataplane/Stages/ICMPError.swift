import NimbusWire

/// Builds the ICMP errors the dataplane sends back to a packet's source (time exceeded from the router,
/// fragmentation needed from a tunnel), as RFC 1812 4.3.2.3 asks: as much of the original datagram as
/// fits in 576 bytes, and never about an ICMP error, a non-first fragment, or a source that is not one host.
enum ICMPError {
    /// The most an ICMP error may take, IP header included (RFC 1812 4.3.2.3).
    static let maximumLength = 576

    /// Generates the error about packet `i` (its IPv4 header at `l3Offset`, as it arrived) and sends it out
    /// of the packet's ingress port. `rest` is the second word of the ICMP header (e.g. the next-hop MTU).
    /// Returns the generated packet's index, or nil when no error may or can be sent.
    @discardableResult
    static func send(_ batch: inout PacketBatch, about i: Int, type: UInt8, code: UInt8, rest: UInt32 = 0,
                     from source: IPv4Address, routerMAC: MACAddress, to peerMAC: MACAddress,
                     identification: UInt16) -> Int? {
        let original = batch.bytes(i).suffix(from: Int(batch.meta[i].l3Offset))
        let ip = IPv4Header(unchecked: original)
        let src = ip.source
        if src == .any || src.isMulticast || src.isLimitedBroadcast || src.isLoopback || ip.fragmentOffset != 0 {
            return nil
        }
        if ip.protocol == IPProtocol.icmp && batch.meta[i].hasL4 {
            let t = ICMPHeader(unchecked: ip.payload).type
            if t != ICMPHeader.echoRequest && t != ICMPHeader.echoReply && t != ICMPHeader.timestampRequest
                && t != ICMPHeader.timestampReply { return nil }
        }
        let headers = IPv4Header.minimumLength + ICMPHeader.length
        let quoted = min(ip.totalLength, ICMPError.maximumLength - headers)
        let l3 = EthernetFrame.headerLength, l4 = l3 + IPv4Header.minimumLength
        guard let g = batch.generate(from: i, length: l3 + headers + quoted) else { return nil }
        let inPort = batch.meta[i].inPort
        let frame = batch.bytes(g)
        EthernetFrame.writeHeader(to: frame, destination: peerMAC, source: routerMAC, etherType: EtherType.ipv4)
        IPv4Header.write(to: frame.suffix(from: l3), totalLength: headers + quoted, identification: identification,
                         ttl: 64, protocol: IPProtocol.icmp, source: source, destination: src)
        ICMPHeader.write(to: frame.suffix(from: l4), type: type, code: code, rest: rest, body: original.prefix(quoted))
        batch.meta[g].etherType = EtherType.ipv4
        batch.meta[g].l3Offset = UInt16(l3)
        batch.meta[g].l4Offset = UInt16(l4)
        batch.meta[g].ipProtocol = IPProtocol.icmp
        batch.meta[g].hasL4 = true
        batch.forward(g, to: inPort)
        return g
    }
}

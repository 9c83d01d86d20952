import NimbusWire

/// Builds the ICMP errors the dataplane sends back to a packet's source (time exceeded from the router,
/// fragmentation needed from a tunnel), as RFC 1812 4.3.2.3 asks: as much of the original datagram as
/// fits in 576 bytes, and never about an ICMP error, a non-first fragment, or a source that is not one host.
enum ICMPError {
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
            let t = original.u8(ip.headerLength)
            if t != ICMPHeader.echoRequest && t != ICMPHeader.echoReply && t != 13 && t != 14 { return nil }
        }
        let quoted = min(ip.totalLength, 576 - 20 - 8)
        let total = EthernetFrame.headerLength + 20 + 8 + quoted
        guard let g = batch.generate(from: i, length: total) else { return nil }
        let inPort = batch.meta[i].inPort
        let frame = batch.bytes(g)
        EthernetFrame.writeHeader(to: frame, destination: peerMAC, source: routerMAC, etherType: EtherType.ipv4)
        IPv4Header.write(to: frame.suffix(from: 14), totalLength: 20 + 8 + quoted, identification: identification,
                         ttl: 64, protocol: IPProtocol.icmp, source: source, destination: src)
        let icmp = frame.suffix(from: 34)
        icmp.setU8(0, type)
        icmp.setU8(1, code)
        icmp.setU16(2, 0)
        icmp.setU32(4, rest)
        (icmp.base + 8).copyMemory(from: original.base, byteCount: quoted)
        icmp.setU16(2, InternetChecksum.compute(icmp))
        batch.meta[g].etherType = EtherType.ipv4
        batch.meta[g].l3Offset = 14
        batch.meta[g].l4Offset = 34
        batch.meta[g].ipProtocol = IPProtocol.icmp
        batch.meta[g].hasL4 = true
        batch.forward(g, to: inPort)
        return g
    }
}

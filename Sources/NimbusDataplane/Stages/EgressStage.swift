import NimbusWire

/// Egress: the last stage. For each routed packet it decrements the TTL (RFC 1812; incremental checksum)
/// or, when the TTL runs out, drops it and sends ICMP Time Exceeded back to the sender; it strips a VLAN
/// tag and writes the Ethernet header (source: the router MAC; destination: the port's peer).
///
/// Reads: `outPort`, `routed`. Writes: TTL, checksum, Ethernet header; generates ICMP errors.
/// Drops: `ttl-exceeded`.
public struct EgressStage: Stage {
    private let routerMAC: MACAddress
    private let peerMACs: [MACAddress]
    /// The address ICMP errors are sent from, per port: the gateway of the port's subnet.
    private let portGateway: [IPv4Address]
    private let firstGateway: IPv4Address
    private var icmpIdentification: UInt16 = 0

    public init(config: DataplaneConfig) {
        routerMAC = config.routerMAC
        peerMACs = config.ports.map(\.peerMAC)
        portGateway = config.ports.map { $0.subnet >= 0 ? config.subnets[$0.subnet].gateway : .any }
        firstGateway = config.subnets.first?.gateway ?? .any
    }

    public mutating func process(_ batch: inout PacketBatch, _ ctx: inout StageContext) {
        // Generated packets are appended after `count` was read and are already decided.
        let n = batch.count
        for i in 0..<n where batch.meta[i].verdict == .pending {
            let out = batch.meta[i].outPort
            var ttl: UInt32 = 256
            if batch.meta[i].routed {
                let ip = IPv4Header(unchecked: batch.bytes(i).suffix(from: Int(batch.meta[i].l3Offset)))
                if ip.ttl <= 1 {
                    batch.drop(i, .ttlExceeded)
                    ctx.trace.record(i, .egress, .dropped, UInt32(DropReason.ttlExceeded.rawValue))
                    sendTimeExceeded(&batch, i, &ctx)
                    continue
                }
                ip.decrementTTL()
                ttl = UInt32(ip.ttl)
            }
            let tag = Int(batch.meta[i].l3Offset) - EthernetFrame.headerLength
            if tag > 0 {
                batch.trimFront(i, tag)
                batch.meta[i].l3Offset -= UInt16(tag)
                batch.meta[i].l4Offset -= UInt16(tag)
            }
            EthernetFrame.writeHeader(to: batch.bytes(i), destination: peerMACs[Int(out)], source: routerMAC,
                                      etherType: batch.meta[i].etherType)
            batch.forward(i, to: out)
            ctx.trace.record(i, .egress, .sent, UInt32(out), ttl)
        }
    }

    /// Builds ICMP Time Exceeded (type 11, code 0) for packet `i` as RFC 1812 4.3.2.3 asks: as much of
    /// the original datagram as fits in 576 bytes, never about an ICMP error, a non-first fragment, or a
    /// source that is not one host.
    private mutating func sendTimeExceeded(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        let original = batch.bytes(i).suffix(from: Int(batch.meta[i].l3Offset))
        let ip = IPv4Header(unchecked: original)
        let src = ip.source
        if src == .any || src.isMulticast || src.isLimitedBroadcast || src.isLoopback || ip.fragmentOffset != 0 {
            return
        }
        if ip.protocol == IPProtocol.icmp && batch.meta[i].hasL4 {
            let type = original.u8(ip.headerLength)
            if type != ICMPHeader.echoRequest && type != ICMPHeader.echoReply && type != 13 && type != 14 { return }
        }
        let quoted = min(ip.totalLength, 576 - 20 - 8)
        let total = EthernetFrame.headerLength + 20 + 8 + quoted
        guard let g = batch.generate(from: i, length: total) else { return }
        let inPort = batch.meta[i].inPort
        var from = portGateway[Int(inPort)]
        if from == .any {
            let out = batch.meta[i].outPort
            from = out != RouterStage.localDelivery ? portGateway[Int(out)] : firstGateway
        }
        let frame = batch.bytes(g)
        EthernetFrame.writeHeader(to: frame, destination: peerMACs[Int(inPort)], source: routerMAC,
                                  etherType: EtherType.ipv4)
        icmpIdentification &+= 1
        IPv4Header.write(to: frame.suffix(from: 14), totalLength: 20 + 8 + quoted,
                         identification: icmpIdentification, ttl: 64, protocol: IPProtocol.icmp,
                         source: from, destination: src)
        let icmp = frame.suffix(from: 34)
        icmp.setU8(0, ICMPHeader.timeExceeded)
        icmp.setU8(1, 0)
        icmp.setU16(2, 0)
        icmp.setU32(4, 0)
        // The quoted header is the one that arrived (TTL 1, before any rewrite).
        (icmp.base + 8).copyMemory(from: original.base, byteCount: quoted)
        icmp.setU16(2, InternetChecksum.compute(icmp))
        batch.meta[g].etherType = EtherType.ipv4
        batch.meta[g].l3Offset = 14
        batch.meta[g].l4Offset = 34
        batch.meta[g].ipProtocol = IPProtocol.icmp
        batch.meta[g].hasL4 = true
        batch.forward(g, to: inPort)
        ctx.trace.record(i, .egress, .icmpGenerated, UInt32(ICMPHeader.timeExceeded), UInt32(g))
    }
}

import NimbusWire

/// Egress: the last stage. For each routed packet it decrements the TTL (RFC 1812; incremental checksum);
/// it strips a VLAN tag and writes the Ethernet header (source: the router MAC; destination: the port's
/// peer).
///
/// Reads: `outPort`, `routed`. Writes: TTL, checksum, Ethernet header. Drops: none.
public struct EgressStage {
    private let routerMAC: MACAddress
    private let peerMACs: [MACAddress]

    public init(config: DataplaneConfig) {
        routerMAC = config.routerMAC
        peerMACs = config.ports.map(\.peerMAC)
    }

    public mutating func process(_ batch: inout PacketBatch, _ ctx: inout StageContext) {
        // Generated packets are appended after `count` was read and are already decided.
        let n = batch.count
        for i in 0..<n where batch.meta[i].verdict == .pending {
            let out = batch.meta[i].outPort
            // 256: TTL untouched (same subnet); 257: a datagram the VPN sealed, with a fresh outer header.
            var ttl: UInt32 = batch.meta[i].toTunnel != 0 ? 257 : 256
            if batch.meta[i].routed {
                // The router made sure the TTL is above 1.
                let ip = IPv4Header(unchecked: batch.bytes(i).suffix(from: Int(batch.meta[i].l3Offset)))
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
}

import NimbusWire

/// Local delivery: the dataplane's own addresses (subnet gateways) answer ICMP echo, so `ping` to the
/// gateway works as on any router. The request is turned into the reply in place.
///
/// Reads: packets the router marked for local delivery. Writes: the echo reply, sent back out of the
/// ingress port. Drops: none (the router already refused everything but echo requests).
public struct LocalStage {
    private let routerMAC: MACAddress
    private let peerMACs: [MACAddress]
    public static let replyTTL: UInt8 = 64

    public init(config: DataplaneConfig) {
        routerMAC = config.routerMAC
        peerMACs = config.ports.map(\.peerMAC)
    }

    public mutating func process(_ batch: inout PacketBatch, _ ctx: inout StageContext) {
        for i in 0..<batch.count
        where batch.meta[i].verdict == .pending && batch.meta[i].outPort == RouterStage.localDelivery {
            let tag = Int(batch.meta[i].l3Offset) - EthernetFrame.headerLength
            if tag > 0 {
                batch.trimFront(i, tag)
                batch.meta[i].l3Offset -= UInt16(tag)
                batch.meta[i].l4Offset -= UInt16(tag)
            }
            let frame = batch.bytes(i)
            let ip = IPv4Header(unchecked: frame.suffix(from: Int(batch.meta[i].l3Offset)))
            let icmp = ICMPHeader(unchecked: frame.suffix(from: Int(batch.meta[i].l4Offset)))
            let dst = ip.destination
            ip.turnAround(ttl: LocalStage.replyTTL)
            // Echo reply differs from the request only in the type byte.
            icmp.setType(ICMPHeader.echoReply)
            let port = batch.meta[i].inPort
            EthernetFrame.writeHeader(to: frame, destination: peerMACs[Int(port)], source: routerMAC,
                                      etherType: EtherType.ipv4)
            batch.forward(i, to: port)
            ctx.trace.record(i, .local, .echoReplied, dst.value)
        }
    }
}

import NimbusWire

/// ARP responder: the dataplane is every instance's router, so it answers ARP requests itself with the
/// router MAC — on an instance port for every address of the instance's subnet (the gateway and the
/// neighbours it forwards to by IP, as cloud VPC routers do), on the uplink for the site's public
/// addresses. Requests are turned into replies in place and sent back out of the port they came in on.
///
/// Reads: ARP packets. Writes: the reply. Drops: `arp-unanswered`, `arp-ignored` (replies and
/// announcements: the dataplane knows every MAC from the topology and learns nothing).
public struct ARPResponderStage {
    private let routerMAC: MACAddress
    private let portSubnet: [IPv4CIDR?]
    private let portIP: [IPv4Address]
    private let publicOwned: IPv4PrefixTable<Bool>

    public init(config: DataplaneConfig) {
        routerMAC = config.routerMAC
        portSubnet = config.ports.map { $0.subnet >= 0 ? config.subnets[$0.subnet].cidr : nil }
        portIP = config.ports.map(\.ip)
        var owned: [(IPv4CIDR, Bool)] = []
        for p in config.ports.dropFirst() {
            if config.networks[p.network].mode == .publicIP { owned.append((IPv4CIDR(address: p.ip, prefixLength: 32), true)) }
            if let pub = p.publicIP { owned.append((IPv4CIDR(address: pub, prefixLength: 32), true)) }
        }
        owned += config.extraPublicAddresses.map { (IPv4CIDR(address: $0, prefixLength: 32), true) }
        publicOwned = IPv4PrefixTable(owned)
    }

    public mutating func process(_ batch: inout PacketBatch, _ ctx: inout StageContext) {
        for i in 0..<batch.count where batch.meta[i].verdict == .pending && batch.meta[i].etherType == EtherType.arp {
            let arp = ARPPacket(unchecked: batch.bytes(i).suffix(from: Int(batch.meta[i].l3Offset)))
            let op = arp.operation
            let senderMAC = arp.senderMAC
            let senderIP = arp.senderIP
            let target = arp.targetIP
            guard op == ARPPacket.request else {
                batch.drop(i, .arpIgnored)
                ctx.trace.record(i, .arp, .dropped, UInt32(DropReason.arpIgnored.rawValue))
                continue
            }
            let port = Int(batch.meta[i].inPort)
            let answer: Bool
            if let subnet = portSubnet[port] {
                // Never for the instance's own address: that is a duplicate-address probe (RFC 5227).
                answer = subnet.contains(target) && target != portIP[port] && target != subnet.network
                    && target != subnet.lastAddress
            } else {
                answer = publicOwned.lookup(target) != nil
            }
            guard answer else {
                batch.drop(i, .arpUnanswered)
                ctx.trace.record(i, .arp, .dropped, UInt32(DropReason.arpUnanswered.rawValue))
                continue
            }
            // Reply in place: an untagged 42-byte frame over the request's bytes.
            let tagBytes = Int(batch.meta[i].l3Offset) - EthernetFrame.headerLength
            if tagBytes > 0 { batch.trimFront(i, tagBytes) }
            batch.setLength(i, EthernetFrame.headerLength + ARPPacket.length)
            batch.meta[i].l3Offset = UInt16(EthernetFrame.headerLength)
            let frame = batch.bytes(i)
            EthernetFrame.writeHeader(to: frame, destination: senderMAC, source: routerMAC, etherType: EtherType.arp)
            ARPPacket.write(to: frame.suffix(from: EthernetFrame.headerLength), operation: ARPPacket.reply,
                            senderMAC: routerMAC, senderIP: target, targetMAC: senderMAC, targetIP: senderIP)
            batch.forward(i, to: UInt16(port))
            ctx.trace.record(i, .arp, .arpReplied, target.value)
        }
    }
}

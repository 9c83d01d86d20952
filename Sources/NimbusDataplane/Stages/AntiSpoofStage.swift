import NimbusWire

/// Anti-spoofing: an instance may only send from its own MAC and IP (ARP included: the sender fields must
/// be its own, or 0.0.0.0 for an address probe, RFC 5227); the internet may not send from an address the
/// site owns.
///
/// Reads: Ethernet source, ARP sender, IPv4 source. Drops: `spoofed-source`.
public struct AntiSpoofStage {
    private let macs: [MACAddress]
    private let ips: [IPv4Address]
    /// Prefixes and addresses the site owns, which never arrive as a source from the internet.
    private let owned: IPv4PrefixTable<Bool>

    public init(config: DataplaneConfig) {
        macs = config.ports.map(\.peerMAC)
        ips = config.ports.map(\.ip)
        var owned: [(IPv4CIDR, Bool)] = config.networks.map { ($0.cidr, true) }
        owned += config.extraPublicAddresses.map { (IPv4CIDR(address: $0, prefixLength: 32), true) }
        owned += config.ports.compactMap { p in p.publicIP.map { (IPv4CIDR(address: $0, prefixLength: 32), true) } }
        self.owned = IPv4PrefixTable(owned)
    }

    public mutating func process(_ batch: inout PacketBatch, _ ctx: inout StageContext) {
        for i in 0..<batch.count where batch.meta[i].verdict == .pending {
            let port = batch.meta[i].inPort
            let frame = batch.bytes(i)
            let l3 = frame.suffix(from: Int(batch.meta[i].l3Offset))
            var ok = true
            if port == DataplaneConfig.internetPort {
                if batch.meta[i].etherType == EtherType.ipv4 {
                    ok = owned.lookup(IPv4Header(unchecked: l3).source) == nil
                }
            } else {
                let mac = macs[Int(port)], ip = ips[Int(port)]
                ok = EthernetFrame(unchecked: frame).source == mac
                switch batch.meta[i].etherType {
                case EtherType.ipv4:
                    ok = ok && IPv4Header(unchecked: l3).source == ip
                case EtherType.arp:
                    let arp = ARPPacket(unchecked: l3)
                    let sender = arp.senderIP
                    ok = ok && arp.senderMAC == mac && (sender == ip || sender == .any)
                default:
                    break
                }
            }
            if ok {
                ctx.trace.record(i, .antiSpoof, .sourceOK)
            } else {
                batch.drop(i, .spoofedSource)
                ctx.trace.record(i, .antiSpoof, .dropped, UInt32(DropReason.spoofedSource.rawValue))
            }
        }
    }
}

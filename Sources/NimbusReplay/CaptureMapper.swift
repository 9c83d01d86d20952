import NimbusDataplane
import NimbusPcap
import NimbusWire

/// `--map ADDR=INSTANCE`: a host of a capture made elsewhere, and the instance that plays it.
public struct HostMapping: Sendable, Equatable {
    public var address: IPv4Address
    /// The instance's port name (`SITE/INSTANCE` when several sites replay together).
    public var instance: String

    public init(address: IPv4Address, instance: String) {
        self.address = address
        self.instance = instance
    }
}

/// Replays a capture made on another machine as if instances had made it (`--map`).
///
/// A frame from a mapped host enters at its instance's port with the instance's source address and
/// MAC; a frame to a mapped host enters at its site's uplink addressed to the public endpoint that the
/// instance's flow reaches the internet with. Ports and addresses are rewritten with incremental
/// checksum updates. A capture taken on the host itself holds its outgoing packets before the NIC
/// filled in their checksums (checksum offload), and sometimes its received ones with the checksums the
/// NIC verified zeroed; so a frame from or to a mapped host whose IP or TCP/UDP checksum is wrong has it
/// recomputed in full first, unless `keepChecksums` is set.
///
/// This is replay's input path, not the dataplane's: it runs once per input frame, before batching, and
/// only when the replay has maps. Frames are rebuilt in a scratch buffer reused for every record.
final class CaptureMapper {
    struct Host {
        var address: IPv4Address
        var site: Int
        /// The instance's port within its site.
        var port: UInt16
        var instanceAddress: IPv4Address
        var instanceMAC: MACAddress
        var routerMAC: MACAddress
        var upstreamMAC: MACAddress
    }

    /// How a frame takes part in a mapping.
    enum Role {
        /// Sent by mapped host `host`: enters at its instance's port.
        case fromHost(Int)
        /// Sent to mapped host `host`: enters at its site's uplink.
        case toHost(Int)
    }

    let hosts: [Host]
    let keepChecksums: Bool
    /// Ethernet header + IPv4 datagram of the frame being rewritten.
    private let scratch: UnsafeMutableRawBufferPointer
    /// For frames to a host: the public address the first fragment of a datagram went to, by (remote
    /// source, IP id, protocol), so its later fragments (which carry no ports) follow it.
    private var fragmentTargets: [UInt64: UInt32] = [:]
    /// Frames from or to a mapped host whose checksums were recomputed (wrong in the capture).
    private(set) var checksumsRecomputed = 0

    init(hosts: [Host], keepChecksums: Bool) {
        self.hosts = hosts
        self.keepChecksums = keepChecksums
        scratch = .allocate(byteCount: EthernetFrame.headerLength + 65_535, alignment: 8)
    }

    deinit { scratch.deallocate() }

    /// The IPv4 datagram of a record and its role, when it comes from or goes to a mapped host. A
    /// source match wins: a host talking to another mapped host is replayed from its own side.
    func role(of record: UnsafeRawBufferPointer, linkType: LinkType?) -> (ip: UnsafeRawBufferPointer, role: Role)? {
        guard let linkType, let ip = LinkLayerAdapter.ipv4Packet(of: record, linkType: linkType) else { return nil }
        let src = IPv4Address(value: UInt32(ip[12]) << 24 | UInt32(ip[13]) << 16 | UInt32(ip[14]) << 8 | UInt32(ip[15]))
        let dst = IPv4Address(value: UInt32(ip[16]) << 24 | UInt32(ip[17]) << 16 | UInt32(ip[18]) << 8 | UInt32(ip[19]))
        if let h = hosts.firstIndex(where: { $0.address == src }) { return (ip, .fromHost(h)) }
        if let h = hosts.firstIndex(where: { $0.address == dst }) { return (ip, .toHost(h)) }
        return nil
    }

    /// The frame a mapped host's datagram enters its instance's port as: source MAC and address the
    /// instance's; an ICMP error it sends about a datagram it
    /// received is rewritten inside too. Valid until the next call.
    func frameFromHost(_ h: Int, ip packet: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let host = hosts[h]
        return build(packet, destinationMAC: host.routerMAC, sourceMAC: host.instanceMAC) { ip, transport in
            if ip.protocol == IPProtocol.icmp, let icmp = transport, ICMPHeader(unchecked: icmp).isError,
               let quoted = QuotedIPv4Datagram(icmpMessage: icmp), quoted.destination == host.address.value {
                IPv4Rewrite.rewriteQuoted(.destination, icmpMessage: icmp, to: host.instanceAddress, port: nil)
                ICMPHeader(unchecked: icmp).updateChecksum()
            }
            IPv4Rewrite.rewrite(.source, of: ip, transport: transport, protocol: ip.protocol,
                                to: host.instanceAddress, port: nil)
        }
    }

    /// The frame a datagram to a mapped host enters the uplink as: addressed to the public endpoint of
    /// the instance's flow, which `publicEndpoint(protocol, local port)` looks up. A flow with no public
    /// endpoint yet (a nat-private instance that never sent on that port) keeps the host's address, and
    /// the dataplane drops it as traffic to nobody — what the real network would do. Valid until the
    /// next call.
    func frameToHost(_ h: Int, ip packet: UnsafeRawBufferPointer,
                     publicEndpoint: (UInt8, UInt16) -> (address: IPv4Address, port: UInt16)?) -> UnsafeRawBufferPointer {
        let host = hosts[h]
        return build(packet, destinationMAC: host.routerMAC, sourceMAC: host.upstreamMAC) { ip, transport in
            let proto = ip.protocol
            let fragmentKey = UInt64(ip.source.value) << 32 | UInt64(ip.identification) << 8 | UInt64(proto)
            guard let transport else {
                // A later fragment: it follows its first.
                if let a = fragmentTargets[fragmentKey] {
                    IPv4Rewrite.rewrite(.destination, of: ip, transport: nil, protocol: proto, to: IPv4Address(value: a), port: nil)
                }
                return
            }
            var target: (address: IPv4Address, port: UInt16)?
            switch proto {
            case IPProtocol.tcp, IPProtocol.udp:
                if let e = publicEndpoint(proto, TransportPortsView(unchecked: transport).destinationPort) {
                    target = e
                    IPv4Rewrite.rewrite(.destination, of: ip, transport: transport, protocol: proto, to: e.address, port: e.port)
                }
            case IPProtocol.icmp:
                let icmp = ICMPHeader(unchecked: transport)
                if icmp.isError {
                    // An error about what the host sent: it quotes the host's datagram, source and port.
                    guard let quoted = QuotedIPv4Datagram(icmpMessage: transport),
                          quoted.source == host.address.value,
                          let port = CaptureMapper.sourcePort(quoted),
                          let e = publicEndpoint(quoted.protocol, port) else { return }
                    target = e
                    IPv4Rewrite.rewriteQuoted(.source, icmpMessage: transport, to: e.address, port: e.port)
                    IPv4Rewrite.rewrite(.destination, of: ip, transport: nil, protocol: proto, to: e.address, port: nil)
                    icmp.updateChecksum()
                } else if icmp.type == ICMPHeader.echoReply, let e = publicEndpoint(proto, icmp.identifier) {
                    target = e
                    IPv4Rewrite.rewrite(.destination, of: ip, transport: transport, protocol: proto, to: e.address, port: e.port)
                }
            default:
                break
            }
            if let target, ip.moreFragments { fragmentTargets[fragmentKey] = target.address.value }
        }
    }

    /// The port (TCP/UDP) or echo identifier (ICMP echo request) a quoted datagram was sent from.
    static func sourcePort(_ quoted: QuotedIPv4Datagram) -> UInt16? {
        switch quoted.protocol {
        case IPProtocol.tcp, IPProtocol.udp: TransportPortsView(unchecked: quoted.payload).sourcePort
        case IPProtocol.icmp: ICMPHeader(unchecked: quoted.payload).identifier
        default: nil
        }
    }

    /// Copies the datagram behind a fresh Ethernet header into the scratch buffer and lets `rewrite`
    /// change it there; a datagram whose IPv4 header does not check out is copied unchanged, for the
    /// dataplane to drop with its reason.
    private func build(_ packet: UnsafeRawBufferPointer, destinationMAC: MACAddress, sourceMAC: MACAddress,
                       _ rewrite: (IPv4Header, RawBytes?) -> Void) -> UnsafeRawBufferPointer {
        let count = min(packet.count, scratch.count - EthernetFrame.headerLength)
        let frame = RawBytes(scratch)
        EthernetFrame.writeHeader(to: frame, destination: destinationMAC, source: sourceMAC, etherType: EtherType.ipv4)
        if count > 0, let src = packet.baseAddress {
            (frame.base + EthernetFrame.headerLength).copyMemory(from: src, byteCount: count)
        }
        let datagram = frame.suffix(from: EthernetFrame.headerLength).prefix(count)
        if let ip = try? IPv4Header(datagram) {
            if !keepChecksums { repairChecksums(ip) }
            rewrite(ip, CaptureMapper.transport(of: ip))
        }
        return UnsafeRawBufferPointer(start: scratch.baseAddress, count: EthernetFrame.headerLength + count)
    }

    /// Recomputes in full the IP and TCP/UDP checksums that a capture taken on the host itself got
    /// wrong: its outgoing packets are captured before the NIC fills them in, and some drivers hand over
    /// received packets with checksums they verified zeroed. Incremental updates need a right sum to
    /// start from.
    private func repairChecksums(_ ip: IPv4Header) {
        var fixed = false
        if !ip.isHeaderChecksumValid {
            ip.updateChecksum()
            fixed = true
        }
        if !IPv4Rewrite.isTransportChecksumValid(ip) {
            IPv4Rewrite.recomputeTransportChecksum(ip)
            fixed = true
        }
        if fixed { checksumsRecomputed += 1 }
    }

    /// The whole fixed L4 header of a first fragment (TCP, UDP or ICMP), or nil.
    static func transport(of ip: IPv4Header) -> RawBytes? {
        guard ip.fragmentOffset == 0 else { return nil }
        let l4 = ip.payload
        switch ip.protocol {
        case IPProtocol.tcp: return (try? TCPHeader(l4))?.bytes
        case IPProtocol.udp: return l4.count >= UDPHeader.length ? l4 : nil
        case IPProtocol.icmp: return l4.count >= ICMPHeader.length ? l4 : nil
        default: return nil
        }
    }
}
